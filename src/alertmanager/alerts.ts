import { incidentTitle, linkKey, routeKey, type IncidentKind, type Scope } from '../incidents/incident.schema.ts';

// What an incident looks like to Alertmanager (API v2 postableAlert). Pure:
// the notifier decides when to send what.

export type Labels = Record<string, string>;

export interface PostableAlert {
  labels: Labels;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL?: string;
}

export interface AlertSource {
  id: string;
  kind: string;
  severity: string;
  scope: unknown;
  cause: string;
  next_steps: string[];
}

/**
 * Labels identify the alert (Alertmanager fingerprints the label set), so
 * they hold what routing and grouping need and nothing that changes while
 * the incident lasts — except severity, which routes pages: a severity change
 * resolves the old label set and fires the new one.
 */
export function alertLabels(inc: AlertSource, instance?: string): Labels {
  const scope = inc.scope as Scope;
  const labels: Labels = { alertname: inc.kind, severity: inc.severity, incident_id: inc.id, scope: scope.type, source: 'meshmon' };
  if (scope.type === 'node') labels.node = scope.node;
  if (scope.type === 'link') {
    labels.link = linkKey(scope.a, scope.b);
    labels.node_a = scope.a;
    labels.node_b = scope.b;
  }
  if (scope.type === 'route') {
    labels.route = routeKey(scope.src, scope.dst);
    labels.src = scope.src;
    labels.dst = scope.dst;
  }
  if (instance) labels.instance = instance;
  return labels;
}

export const incidentUrl = (publicUrl: string | undefined, id: string) => (publicUrl ? `${publicUrl}/incidents/${encodeURIComponent(id)}` : undefined);

export function alertAnnotations(inc: AlertSource, publicUrl?: string): Record<string, string> {
  const title = incidentTitle(inc.kind as IncidentKind, inc.scope as Scope);
  const url = incidentUrl(publicUrl, inc.id);
  return {
    title,
    summary: title,
    description: inc.cause,
    cause: inc.cause,
    next_steps: inc.next_steps.map((s) => `- ${s}`).join('\n'),
    ...(url ? { incident_url: url } : {}),
  };
}

/** The `instance` label: where the alerts come from, the host of PUBLIC_URL when set. */
export function instanceLabel(publicUrl: string | undefined): string | undefined {
  if (!publicUrl) return undefined;
  try {
    return new URL(publicUrl).host;
  } catch {
    return undefined;
  }
}

export const sameLabels = (a: Labels | null | undefined, b: Labels | null | undefined): boolean => {
  if (!a || !b) return false;
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
};
