import { z } from 'zod';
import { IncidentKind, Severity } from '../incidents/incident.schema.ts';

const Time = z.iso.datetime();
const Count = z.number().int().nonnegative();

const countsOf = <T extends readonly string[]>(keys: T) =>
  z.object(Object.fromEntries(keys.map((k) => [k, Count])) as { [K in T[number]]: typeof Count });

export const Health = z.enum(['green', 'yellow', 'red']).meta({
  description:
    '`green`: nothing open; `yellow`: only minor or major incidents open; `red`: a critical one is open. ' +
    'Incidents a maintenance window covers do not count here (they do in the counts)',
});

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
    generated_at: Time,
  })
  .meta({ id: 'Summary', description: 'Overall health and open counts for the panel header' });
export type Summary = z.infer<typeof Summary>;
