import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

/**
 * The CPU as benches print it. A VM's model name is often just "AMD EPYC";
 * the family and model tell its generations apart, and figures moved by ×3
 * between two machines both named "AMD EPYC".
 */
export function cpuDescription(): string {
  const name = os.cpus()[0]?.model ?? 'unknown CPU';
  let info = '';
  try {
    info = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return name;
  }
  const field = (key: string) => new RegExp(`^${key}\\s*:\\s*(.+)$`, 'm').exec(info)?.[1]?.trim();
  const family = field('cpu family');
  const model = field('model');
  const mhz = field('cpu MHz');
  const detail = [family && `family ${family}`, model && `model ${model}`, mhz && `${Math.round(Number(mhz))} MHz`].filter(Boolean).join(', ');
  return detail ? `${name} (${detail})` : name;
}

/** CPU time (user + system) a process has used, in seconds; NaN once it is gone. */
export function processCpuSeconds(pid: number): number {
  try {
    // Fields after the parenthesised command name, which may hold spaces; clock ticks of 10 ms.
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** CPU time of every process named `comm` (e.g. all of PostgreSQL's), in seconds. */
export function processesCpuSeconds(comm: string): number {
  let total = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let c = '';
    try {
      c = readFileSync(`/proc/${name}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    // A process that exits between the two reads counts for nothing.
    if (c === comm) total += processCpuSeconds(Number(name)) || 0;
  }
  return total;
}
