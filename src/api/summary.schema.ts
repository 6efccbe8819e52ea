import { z } from 'zod';
import { IncidentKind, Severity } from '../incidents/incident.schema.ts';

const Time = z.iso.datetime();
const Count = z.number().int().nonnegative();

const countsOf = <T extends readonly string[]>(keys: T) =>
  z.object(Object.fromEntries(keys.map((k) => [k, Count])) as { [K in T[number]]: typeof Count });

export const Health = z.enum(['green', 'yellow', 'red']).meta({
  description:
    '`green`: nothing open; `yellow`: only minor or major incidents open, or the Issue Engine is failing or stale ' +
    '(the incidents may not be current: see `engine`); `red`: a critical one is open. ' +
    'Incidents a maintenance window covers do not count here (they do in the counts)',
});

export const EngineStatus = z
  .object({
    state: z.enum(['ok', 'failing', 'stale', 'unknown']).meta({
      description:
        '`ok`: the last tick passed; `failing`: the last tick failed (nothing opens, changes or closes until one passes); ' +
        '`stale`: this collector runs the engine but no tick finished for three intervals and a minute; `unknown`: no tick recorded yet',
    }),
    last_tick_at: Time.nullable(),
    last_success_at: Time.nullable(),
    error: z.string().nullable().meta({ description: 'Why it fails or is stale, in a few words; null when ok' }),
  })
  .meta({ id: 'EngineStatus', description: 'Whether the Issue Engine is doing its work' });
export type EngineStatus = z.infer<typeof EngineStatus>;

export const Summary = z
  .object({
    health: Health,
    open: z.object({
      total: Count.meta({ description: 'Incidents not ended yet (status open or clearing)' }),
      roots: Count.meta({ description: 'Of those, the ones without a parent (what the default /issues lists)' }),
      by_severity: countsOf(Severity.options),
      by_kind: countsOf(IncidentKind.options),
      acknowledged: Count.meta({ description: 'Of the open ones, those somebody acknowledged (they stay open and counted)' }),
      maintenance: Count.meta({ description: 'Of the open ones, those a maintenance window covers now (not in `health`)' }),
    }),
    last_ingest_at: Time.nullable().meta({ description: 'Latest message received from any agent (collector clock); null before the first' }),
    last_engine_tick_at: Time.nullable().meta({ description: 'Latest Issue Engine tick, in this process or another sharing the database' }),
    engine: EngineStatus,
    generated_at: Time,
  })
  .meta({ id: 'Summary', description: 'Overall health and open counts for the panel header' });
export type Summary = z.infer<typeof Summary>;
