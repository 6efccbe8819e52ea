import { z } from 'zod';

/** ok: fine; warn: works, but look; fail: the collector cannot work (or will stop) until fixed; skip: could not be checked (the reason says why). */
export const CheckStatus = z.enum(['ok', 'warn', 'fail', 'skip']);
export type CheckStatus = z.infer<typeof CheckStatus>;

export const CheckId = z.enum([
  'runtime', 'configuration', 'data_dir', 'ports', 'collector', 'database', 'timescaledb',
  'disk', 'clock', 'ingest', 'agent_paths', 'engine', 'jobs',
]);
export type CheckId = z.infer<typeof CheckId>;

export const DoctorCheck = z.object({
  id: CheckId,
  title: z.string(),
  status: CheckStatus,
  /** One line: what was found. */
  summary: z.string(),
  /** Further lines a person should read (found facts), may be empty. */
  notes: z.array(z.string()),
  /** What to do, one way per entry; empty when nothing is to be done. */
  fix: z.array(z.string()),
  /** The facts behind the verdict, for scripts. */
  details: z.record(z.string(), z.unknown()),
});
export type DoctorCheck = z.infer<typeof DoctorCheck>;

export const DoctorReport = z.object({
  version: z.string(),
  checked_at: z.string(),
  /** false when any check failed (the command then exits 1). */
  ok: z.boolean(),
  counts: z.object({ ok: z.number().int(), warn: z.number().int(), fail: z.number().int(), skip: z.number().int() }),
  checks: z.array(DoctorCheck),
});
export type DoctorReport = z.infer<typeof DoctorReport>;
