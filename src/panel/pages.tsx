import type { Child } from 'hono/jsx';
import { MeshSvg, type Topology, layout } from './mesh-view.tsx';
import { Plot, type PlotSeries } from './plot.tsx';
import { durationText, evidenceInWords, eventInWords, scopeText, utc, type ScopeJson } from './words.ts';

// The panel's pages, rendered on the collector from the API's JSON. Times are
// printed in UTC and carry their ISO value; panel.js turns them into local
// times and "for 12 min" without asking the collector again. Nothing here
// depends on the clock except through the data, so an unchanged page renders
// to the same bytes and a refresh costs a 304.

type Json = Record<string, any>;

export interface PageContext {
  /** Relative path to the panel's root from this page ('./' or '../'). */
  base: string;
  assets: { css: string; js: string };
  refreshS: number;
  version: string;
  signOut: boolean;
  title: string;
  nav: 'incidents' | 'mesh' | 'nodes' | 'incident' | 'login';
}

export function Layout(p: { ctx: PageContext; live: Child; liveTag: string; outside: Child }) {
  const { ctx } = p;
  const tab = (name: PageContext['nav'], href: string, text: string) => (
    <a href={href} class={ctx.nav === name ? 'on' : ''}>{text}</a>
  );
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{ctx.title} · MeshMon</title>
        <link rel="stylesheet" href={`${ctx.base}${ctx.assets.css}`} />
        <script src={`${ctx.base}${ctx.assets.js}`} defer></script>
      </head>
      <body data-refresh={String(ctx.refreshS)}>
        <nav class="top">
          <a class="brand" href={ctx.base}>MeshMon</a>
          {tab('incidents', ctx.base, 'Incidents')}
          {tab('mesh', `${ctx.base}mesh`, 'Mesh')}
          {tab('nodes', `${ctx.base}nodes`, 'Nodes')}
          <a href={`${ctx.base}docs`}>API</a>
          {ctx.signOut ? (
            <form method="post" action={`${ctx.base}logout`} class="signout"><button type="submit">Sign out</button></form>
          ) : null}
        </nav>
        <div id="live" data-etag={p.liveTag}>{p.live}</div>
        {p.outside}
        <footer>MeshMon Collector {ctx.version}</footer>
      </body>
    </html>
  );
}

const SEVERITIES = ['critical', 'major', 'minor'] as const;

/** The header every page carries: overall health and open counts (GET /summary). */
export function HealthHeader({ summary, base, staleAfterMs }: { summary: Json; base: string; staleAfterMs: number }) {
  const open = summary.open ?? {};
  const bySev = open.by_severity ?? {};
  const generated = Date.parse(summary.generated_at);
  const lastIngest = summary.last_ingest_at ? Date.parse(summary.last_ingest_at) : null;
  const stale = lastIngest === null || generated - lastIngest > staleAfterMs;
  return (
    <header class={`health h-${summary.health}`} data-health={summary.health}>
      <div class="dot" aria-hidden="true"></div>
      <div class="what">
        <strong>{summary.health === 'green' ? 'All clear' : summary.health === 'red' ? 'Critical incidents open' : 'Incidents open'}</strong>
        <span class="counts">
          <a href={base}>{open.roots ?? 0} open {open.roots === 1 ? 'issue' : 'issues'}</a> ({open.total ?? 0} {open.total === 1 ? 'incident' : 'incidents'} with related ones)
          {SEVERITIES.map((s) => (bySev[s] ? <span class={`pill sev-${s}`}>{bySev[s]} {s}</span> : null))}
          {open.acknowledged ? <span class="pill ack">{open.acknowledged} acknowledged</span> : null}
          {open.maintenance ? <span class="pill maint">{open.maintenance} under maintenance</span> : null}
        </span>
        {stale ? (
          <span class="stale">{lastIngest === null ? 'No agent has reported yet.' : <>No data since <time datetime={summary.last_ingest_at}>{utc(summary.last_ingest_at)}</time>: the colour may be out of date.</>}</span>
        ) : null}
      </div>
    </header>
  );
}

function Badges({ i }: { i: Json }) {
  return (
    <>
      {i.acknowledged ? <span class="pill ack" title={i.acknowledged.note ?? ''}>acknowledged by {i.acknowledged.by}</span> : null}
      {i.maintenance ? <span class="pill maint" title={i.maintenance.reason}>maintenance: {i.maintenance.reason}</span> : null}
    </>
  );
}

function When({ i }: { i: Json }) {
  return i.ended_at ? (
    <span>started <time datetime={i.started_at}>{utc(i.started_at)}</time>, lasted {durationText(Date.parse(i.ended_at) - Date.parse(i.started_at))}</span>
  ) : (
    <span>started <time datetime={i.started_at}>{utc(i.started_at)}</time>, <span class="since" data-t={i.started_at}>open</span></span>
  );
}

export function Card({ i, base }: { i: Json; base: string }) {
  const impact = i.impact ?? {};
  return (
    <article class={`card sev-${i.severity} st-${i.status}`} data-id={i.id} data-kind={i.kind} data-severity={i.severity} data-status={i.status}>
      <h3><a href={`${base}incidents/${encodeURIComponent(i.id)}`}>{i.title}</a></h3>
      <p class="meta">
        <span class={`pill sev-${i.severity}`}>{i.severity}</span>
        <span class="pill status">{i.status}</span>
        <span class="scope">{scopeText(i.scope as ScopeJson)}</span>
        <Badges i={i} />
      </p>
      <p class="meta">
        <When i={i} />
        {' · '}{impact.routes_affected ?? 0} {impact.routes_affected === 1 ? 'route' : 'routes'}, {(impact.nodes ?? []).length} nodes
        {i.children ? <> · <span class="children">{i.children} related</span></> : null}
      </p>
      <p class="cause">{i.cause}</p>
    </article>
  );
}

export interface IncidentFilters {
  status: string;
  kind?: string | undefined;
  severity?: string | undefined;
  node?: string | undefined;
  link?: string | undefined;
}

export function IncidentsPage(p: {
  base: string;
  filters: IncidentFilters;
  kinds: readonly string[];
  lists: Array<{ title: string; id: string; items: Json[]; next: string | null; moreHref: string | null }>;
}) {
  const f = p.filters;
  const opt = (value: string, current: string | undefined, text = value) => <option value={value} selected={value === (current ?? '')}>{text}</option>;
  return (
    <main class="incidents">
      <form class="filters" method="get" action={p.base}>
        <label>Status <select name="status">{opt('open', f.status)}{opt('closed', f.status)}{opt('all', f.status)}</select></label>
        <label>Kind <select name="kind">{opt('', f.kind, 'any')}{p.kinds.map((k) => opt(k, f.kind, k.replaceAll('_', ' ')))}</select></label>
        <label>Severity <select name="severity">{opt('', f.severity, 'any')}{SEVERITIES.map((s) => opt(s, f.severity))}</select></label>
        <label>Node <input name="node" list="node-names" value={f.node ?? ''} placeholder="any" autocomplete="off" /></label>
        {f.link ? <label>Link <input name="link" value={f.link} /></label> : null}
        <button type="submit">Filter</button>
        {f.status !== 'open' || f.kind || f.severity || f.node || f.link ? <a href={p.base}>clear</a> : null}
      </form>
      {p.lists.map((l) => (
        <section class="list" id={l.id} data-count={String(l.items.length)}>
          <h2>{l.title} <span class="muted">({l.items.length}{l.next ? '+' : ''})</span></h2>
          {l.items.length ? l.items.map((i) => <Card i={i} base={p.base} />) : <p class="muted empty">Nothing here.</p>}
          {l.moreHref ? <p><a href={l.moreHref}>More…</a></p> : null}
        </section>
      ))}
    </main>
  );
}

/** A route's hop list as a chain, with the link or node the incident blames marked. */
export function RouteChain({ route, blame }: { route: Json; blame: { link?: [string, string]; node?: string } }) {
  const hops: string[] | null = route.hops;
  if (!hops?.length) return <li class="route"><span class="rname">{route.src} → {route.dst}</span> <span class="muted">no hop list measured</span></li>;
  const blamedLink = (x: string, y: string) => !!blame.link && ((blame.link[0] === x && blame.link[1] === y) || (blame.link[0] === y && blame.link[1] === x));
  const parts: Child[] = [];
  hops.forEach((h, i) => {
    if (i > 0) {
      const hit = blamedLink(hops[i - 1]!, h);
      parts.push(<li class={`hoplink${hit ? ' blamed' : ''}`} data-blamed={hit ? 'link' : undefined} aria-label={hit ? 'blamed link' : 'link'}>{hit ? '⚡' : '→'}</li>);
    }
    const hit = blame.node === h;
    parts.push(<li class={`hop${hit ? ' blamed' : ''}`} data-blamed={hit ? 'node' : undefined}>{h}</li>);
  });
  return (
    <li class="route" data-route={route.route}>
      <ol class="chain" aria-label={`route ${route.src} to ${route.dst}`}>{parts}</ol>
      {route.hop_lists?.length > 1 ? <span class="muted">{route.hop_lists.length} hop lists seen</span> : null}
    </li>
  );
}

export interface SeriesForPlot {
  route?: string;
  /** The link's one-string form (`A,B`) and its two ends. */
  link?: string;
  ends?: [string, string];
  from: number;
  to: number;
  stepMs: number;
  points: Json[];
}

export function IncidentPage(p: {
  base: string;
  i: Json;
  parent: Json | null;
  blame: { link?: [string, string]; node?: string };
  paths: SeriesForPlot[];
  link: SeriesForPlot | null;
  thresholds: { jitter_ms: number; loss_pct: number };
}) {
  const { i, base } = p;
  const shade: [number, number] = [Date.parse(i.started_at), i.ended_at ? Date.parse(i.ended_at) : Number.MAX_SAFE_INTEGER];
  const pts = (s: SeriesForPlot, key: string): Array<[number, number | null]> => s.points.map((x) => [Date.parse(x.t), x[key] ?? null]);
  const words = evidenceInWords(i.kind, i.evidence ?? {});
  return (
    <main class="incident" data-id={i.id} data-kind={i.kind} data-severity={i.severity} data-status={i.status}>
      <p class="crumbs"><a href={base}>Incidents</a>{p.parent ? <> › <a href={`${base}incidents/${encodeURIComponent(p.parent.id)}`}>{p.parent.title}</a></> : null}</p>
      <h1 class={`sev-${i.severity}`}>{i.title}</h1>
      <p class="meta">
        <span class={`pill sev-${i.severity}`}>{i.severity}</span>
        <span class="pill status">{i.status}</span>
        <span class="scope">{scopeText(i.scope as ScopeJson)}</span>
        <Badges i={i} />
      </p>
      <p class="meta"><When i={i} />{' · '}detected {durationText(Date.parse(i.detected_at) - Date.parse(i.started_at))} after it began</p>
      {i.maintenance ? <p class="note maint">Under maintenance until <time datetime={i.maintenance.ends_at}>{utc(i.maintenance.ends_at)}</time>: {i.maintenance.reason}</p> : null}
      {i.acknowledged ? <p class="note ack">Acknowledged by {i.acknowledged.by} at <time datetime={i.acknowledged.at}>{utc(i.acknowledged.at)}</time>{i.acknowledged.note ? `: ${i.acknowledged.note}` : ''}</p> : null}

      <section class="cause">
        <h2>Likely cause</h2>
        <p>{i.playbook?.cause ?? i.cause}</p>
        <h2>Next steps</h2>
        <ol class="steps">{(i.playbook?.next_steps ?? i.next_steps ?? []).map((s: string) => <li>{s}</li>)}</ol>
      </section>

      <section class="evidence">
        <h2>Evidence</h2>
        <ul>{words.map((w) => <li>{w}</li>)}</ul>
        {i.pattern && i.pattern.windows ? (
          <p class="muted">
            {i.pattern.bad_windows} of {i.pattern.windows} windows over the thresholds ({i.pattern.type === 'burst' ? 'in bursts' : i.pattern.type === 'steady' ? 'steadily' : 'pattern unknown'}; longest run {i.pattern.longest_bad_run}).
          </p>
        ) : null}
        <p class="muted">Affects {i.impact?.routes_affected ?? 0} routes and {(i.impact?.nodes ?? []).length} nodes{i.impact?.nodes?.length ? `: ${i.impact.nodes.slice(0, 12).join(', ')}${i.impact.nodes.length > 12 ? ', …' : ''}` : ''}.</p>
      </section>

      {i.routes?.length ? (
        <section class="routes">
          <h2>Affected routes</h2>
          <ul class="chains">{i.routes.slice(0, 12).map((r: Json) => <RouteChain route={r} blame={p.blame} />)}</ul>
          {i.routes.length > 12 || i.routes_truncated ? <p class="muted">…and {Math.max(0, (i.impact?.routes_affected ?? i.routes.length) - 12)} more.</p> : null}
        </section>
      ) : null}

      {p.link || p.paths.length ? (
        <section class="plots">
          <h2>Measurements around the incident</h2>
          {p.link ? (
            <div class="plotgroup" data-link={p.link.link}>
              <h3>Link {p.link.ends ? `${p.link.ends[0]} ↔ ${p.link.ends[1]}` : p.link.link}</h3>
              <Plot title="LQ / NLQ" unit="0–1" from={p.link.from} to={p.link.to} shade={shade} yMax={1.05} gapMs={p.link.stepMs * 4}
                threshold={{ value: 0.7, label: 'LQ floor of the RF-drop rule' }}
                series={[{ name: 'LQ', cls: 's1', points: pts(p.link, 'lq') }, { name: 'NLQ', cls: 's2', points: pts(p.link, 'nlq') }] as PlotSeries[]} />
              <Plot title="ETX" unit="" from={p.link.from} to={p.link.to} shade={shade} gapMs={p.link.stepMs * 4}
                series={[{ name: 'ETX', cls: 's3', points: pts(p.link, 'etx') }]} />
            </div>
          ) : null}
          {p.paths.map((s) => (
            <div class="plotgroup" data-route={s.route}>
              <h3>Route {s.route?.replace('>', ' → ')}</h3>
              <Plot title="RTT" unit="ms" from={s.from} to={s.to} shade={shade} gapMs={s.stepMs * 4} series={[{ name: 'RTT', cls: 's1', points: pts(s, 'rtt_ms') }]} />
              <Plot title="Jitter" unit="ms" from={s.from} to={s.to} shade={shade} gapMs={s.stepMs * 4}
                threshold={{ value: p.thresholds.jitter_ms, label: 'jitter threshold' }} series={[{ name: 'jitter', cls: 's2', points: pts(s, 'jitter_ms') }]} />
              <Plot title="Loss" unit="%" from={s.from} to={s.to} shade={shade} gapMs={s.stepMs * 4}
                threshold={{ value: p.thresholds.loss_pct, label: 'loss threshold' }} series={[{ name: 'loss', cls: 's3', points: pts(s, 'loss_pct') }]} />
            </div>
          ))}
        </section>
      ) : null}

      <section class="timeline">
        <h2>Timeline</h2>
        <ol>{(i.timeline ?? []).map((e: Json) => <li><time datetime={e.at}>{utc(e.at)}</time> {eventInWords(e.event, e.detail ?? {})}</li>)}</ol>
      </section>

      {i.children_count ? (
        <section class="children">
          <h2>Caused by this one <span class="muted">({i.children_count})</span></h2>
          {i.children.map((c: Json) => <Card i={c} base={base} />)}
        </section>
      ) : null}
    </main>
  );
}

export function MeshPage({ topo, base }: { topo: Topology | null; base: string }) {
  if (!topo) return <main class="meshpage"><p class="muted">This collector serves no topology (GET /topology).</p></main>;
  const pos = layout(topo);
  const bad = topo.links.filter((l) => l.properties?.severity).length;
  return (
    <main class="meshpage">
      <p class="muted">{topo.nodes.length} nodes, {topo.links.length} links heard in the last hour{bad ? `, ${bad} with open incidents` : ''}. Click a node or a link for its incidents.</p>
      <MeshSvg topo={topo} pos={pos} base={base} />
      <p class="legend"><span class="pill sev-critical">critical</span><span class="pill sev-major">major</span><span class="pill sev-minor">minor</span><span class="pill ok">no open incident</span><span class="pill silent">silent node</span></p>
    </main>
  );
}

export function NodesPage({ registry, base }: { registry: Json; base: string }) {
  const nodes: Json[] = registry.nodes ?? [];
  const c = registry.counts ?? {};
  return (
    <main class="nodespage">
      <p class="muted">{c.total ?? nodes.length} nodes: {c.reporting ?? 0} reporting, {c.silent ?? 0} silent{c.retired !== undefined ? `, ${c.retired} retired` : ''}. Silent after {durationText((registry.silent_after_s ?? 900) * 1000)} without a message.</p>
      <div class="tablewrap">
        <table class="nodes">
          <thead><tr><th>Node</th><th>Status</th><th>Last seen</th><th>Firmware</th><th>Model</th><th>Clock skew</th><th>Ingest drops (24 h)</th><th>Position</th></tr></thead>
          <tbody>
            {nodes.map((n) => (
              <tr data-node={n.node} data-status={n.status}>
                <td><a href={`${base}?node=${encodeURIComponent(n.node)}&status=all`}>{n.node}</a></td>
                <td><span class={`pill st-${n.status}`}>{n.status}</span>{n.retired_at ? <> since <time datetime={n.retired_at}>{utc(n.retired_at)}</time></> : null}</td>
                <td><time datetime={n.last_received_at ?? n.last_seen} class="ago">{utc(n.last_received_at ?? n.last_seen)}</time></td>
                <td>{n.firmware_version ?? '—'}</td>
                <td>{n.hardware_model ?? '—'}</td>
                <td class={n.clock_skew_flagged_at ? 'warn' : ''}>{typeof n.clock_skew_s === 'number' ? `${n.clock_skew_s.toFixed(1)} s${n.clock_skew_flagged_at ? ' (not trusted)' : ''}` : '—'}</td>
                <td class={n.ingest_drops?.last_24h ? 'warn' : ''}>{n.ingest_drops ? `${n.ingest_drops.last_24h}${n.ingest_drops.last_reason ? ` (${n.ingest_drops.last_reason})` : ''}` : '—'}</td>
                <td>{n.position && typeof n.position.lat === 'number' ? `${n.position.lat.toFixed(4)}, ${n.position.lon.toFixed(4)}` : (n.position?.grid_square ?? '—')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </main>
  );
}

export function LoginPage({ base, next, failed }: { base: string; next: string; failed: boolean }) {
  return (
    <main class="login">
      <h1>Sign in</h1>
      <p>This collector requires its API token (API_TOKEN) to show the panel.</p>
      <form method="post" action={`${base}login`}>
        <input type="hidden" name="next" value={next} />
        <label>Token <input type="password" name="token" autocomplete="current-password" required autofocus /></label>
        <button type="submit">Sign in</button>
      </form>
      {failed ? <p class="warn">That token is not right.</p> : null}
    </main>
  );
}

export function ErrorPage({ status, detail, base }: { status: number; detail: string; base: string }) {
  return (
    <main class="error" data-status={String(status)}>
      <h1>{status === 404 ? 'Not found' : status === 503 ? 'The database is not answering' : 'Something went wrong'}</h1>
      <p>{detail}</p>
      <p><a href={base}>Back to the incidents</a></p>
    </main>
  );
}
