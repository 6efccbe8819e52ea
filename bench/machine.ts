import { readFileSync } from 'node:fs';
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
