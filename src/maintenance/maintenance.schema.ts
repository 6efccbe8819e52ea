import { z } from 'zod';
import { CursorParam } from '../api/cursor.ts';
import { STORABLE_MESSAGE, WindowId, storable } from '../api/ids.ts';
import { IsoTime, Limit, queryObject } from '../api/query.ts';
import { IncidentKind, IncidentStatus, LinkScope, NodeScope, RouteScope, Severity, linkScope } from '../incidents/incident.schema.ts';
import { NodeName } from '../ingest/ingest.schema.ts';

// Maintenance windows: requests, responses, and the scope as the domain holds it.

const Time = z.iso.datetime();

export const MeshScope = z.object({ type: z.literal('mesh') });

/** What a window covers (see coverage.ts): the whole mesh, a node, an undirected link (a < b) or a directed route. */
export const WindowScope = z
  .discriminatedUnion('type', [MeshScope, NodeScope, LinkScope, RouteScope])
  .meta({ id: 'MaintenanceScope', description: '`{"type":"mesh"}`, `{"type":"node","node"}`, `{"type":"link","a","b"}` (a < b) or `{"type":"route","src","dst"}`' });
export type WindowScope = z.infer<typeof WindowScope>;

/** Who does it: recorded in the timeline, on the window and in the audit log. */
export const Who = z
  .string()
  .trim()
  .min(1, 'must say who (a call sign or a name)')
  .max(100)
  .refine(storable, STORABLE_MESSAGE)
  .meta({ description: 'Who does it: a call sign or a name', examples: ['KX6ABC'] });

/** The scope as a request gives it: names checked, a link's ends in any order. */
export const WindowScopeInput = z
  .discriminatedUnion('type', [
    MeshScope,
    z.object({ type: z.literal('node'), node: NodeName }),
    z.object({ type: z.literal('link'), a: NodeName, b: NodeName }),
    z.object({ type: z.literal('route'), src: NodeName, dst: NodeName }),
  ])
  .superRefine((s, ctx) => {
    if (s.type === 'link' && s.a === s.b) ctx.addIssue({ code: 'custom', path: ['b'], message: 'a link joins two different nodes' });
    if (s.type === 'route' && s.src === s.dst) ctx.addIssue({ code: 'custom', path: ['dst'], message: 'a route joins two different nodes' });
  })
  .transform((s): WindowScope => (s.type === 'link' ? linkScope(s.a, s.b) : s))
  .meta({ description: 'What the window covers; a link’s two nodes may come in either order' });

export const CreateWindowBody = z.strictObject({
  by: Who,
  scope: WindowScopeInput,
  starts_at: IsoTime.optional().meta({ description: 'Start; default now. May lie in the past (a window opened after the work began)' }),
  ends_at: IsoTime.meta({ description: 'Planned end: after the start and in the future, at most 31 days after the start' }),
  reason: z.string().trim().min(1, 'must say why').max(500).refine(storable, STORABLE_MESSAGE).meta({ description: 'Why: shown on covered incidents', examples: ['Replacing the sector antenna'] }),
});
export type CreateWindowBody = z.infer<typeof CreateWindowBody>;

export const EndWindowBody = z.strictObject({ by: Who });
export type EndWindowBody = z.infer<typeof EndWindowBody>;

export const WindowIdParam = z.object({ id: WindowId });

export const DeleteWindowQuery = queryObject({ by: Who });

export const WindowStatus = z.enum(['scheduled', 'active', 'ended']).meta({
  description: '`scheduled`: starts later; `active`: covering now; `ended`: over (as planned or ended early)',
});

export const MaintenanceQuery = queryObject({
  status: z.enum(['scheduled', 'active', 'ended', 'current', 'all']).default('all').meta({
    description: '`current`: scheduled or active; `all` (default): every window, past ones included',
  }),
  limit: Limit(50, 500),
  cursor: CursorParam.optional(),
});
export type MaintenanceQuery = z.infer<typeof MaintenanceQuery>;

export const MaintenanceWindow = z
  .object({
    id: z.string(),
    scope: WindowScope,
    status: WindowStatus,
    starts_at: Time,
    ends_at: Time.meta({ description: 'Effective end: the planned one, or when it was ended early' }),
    planned_ends_at: Time,
    reason: z.string(),
    created_by: z.string(),
    created_at: Time,
    ended_early: z.object({ by: z.string(), at: Time }).nullable().meta({ description: 'Who ended it before its planned end, and when' }),
  })
  .meta({ id: 'MaintenanceWindow' });
export type MaintenanceWindow = z.infer<typeof MaintenanceWindow>;

export const CoveredIncident = z
  .object({
    id: z.string(),
    kind: IncidentKind,
    title: z.string(),
    severity: Severity,
    status: IncidentStatus,
    from: Time.meta({ description: 'When the window began covering it (the later of the window’s start and the incident’s)' }),
    until: Time.nullable().meta({ description: 'When the coverage stopped (the window’s end or the incident’s); null while it lasts' }),
  })
  .meta({ id: 'CoveredIncident' });
export type CoveredIncident = z.infer<typeof CoveredIncident>;

export const MaintenanceWindowDetail = MaintenanceWindow.extend({
  covered: z.array(CoveredIncident).meta({ description: 'Incidents the window covered directly (their children follow their parent), oldest first' }),
  covered_truncated: z.boolean(),
}).meta({ id: 'MaintenanceWindowDetail' });
export type MaintenanceWindowDetail = z.infer<typeof MaintenanceWindowDetail>;

export const MaintenanceList = z
  .object({
    items: z.array(MaintenanceWindow).meta({ description: 'Latest start first' }),
    next: z.string().nullable(),
  })
  .meta({ id: 'MaintenanceList' });
export type MaintenanceList = z.infer<typeof MaintenanceList>;
