// Time-series plots as plain SVG, rendered on the collector: no plotting
// library and no script needed to see them. Colours come from classes in
// panel.css (the CSP allows no inline styles).

export interface PlotSeries {
  name: string;
  /** CSS class of the line and its points (s1, s2, s3). */
  cls: string;
  points: Array<[number, number | null]>;
}

export interface PlotProps {
  title: string;
  unit: string;
  from: number;
  to: number;
  series: PlotSeries[];
  /** The incident's period, shaded. */
  shade: [number, number];
  threshold?: { value: number; label: string };
  /** Fixed y range (LQ: 0–1); otherwise 0 to the data's top. */
  yMax?: number;
  /** Longest gap (ms) still drawn as a line; wider gaps are missing data. */
  gapMs: number;
}

const W = 640;
const H = 170;
const L = 44;
const R = 8;
const T = 10;
const B = 24;

function niceStep(range: number, ticks: number): number {
  const raw = range / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((k) => k * mag).find((s) => s >= raw) ?? raw;
}

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(0) : v.toFixed(v % 1 ? 1 : 0));

function timeTicks(from: number, to: number): number[] {
  const steps = [60, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400].map((s) => s * 1000);
  const step = steps.find((s) => (to - from) / s <= 6) ?? 86400_000;
  const out = [];
  for (let t = Math.ceil(from / step) * step; t <= to; t += step) out.push(t);
  return out;
}

export function Plot(p: PlotProps) {
  const values = p.series.flatMap((s) => s.points.map((x) => x[1]).filter((v): v is number => v !== null));
  const top = p.yMax ?? Math.max(p.threshold ? p.threshold.value * 1.2 : 0, ...values, 1) * 1.1;
  const x = (t: number) => L + ((t - p.from) / Math.max(1, p.to - p.from)) * (W - L - R);
  const y = (v: number) => T + (1 - v / top) * (H - T - B);
  const yStep = niceStep(top, 4);
  const yTicks = [];
  for (let v = 0; v <= top + 1e-9; v += yStep) yTicks.push(v);
  const shadeFrom = Math.max(p.from, p.shade[0]);
  const shadeTo = Math.min(p.to, p.shade[1]);
  const count = values.length;
  return (
    <figure class="plot">
      <figcaption>{p.title}{p.unit ? <span class="unit"> ({p.unit})</span> : null}<span class="unit"> · UTC</span>{p.series.length > 1 ? p.series.map((s) => <span class={`key ${s.cls}`}>{s.name}</span>) : null}</figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${p.title}, ${count} points`} data-points={String(count)}>
        {shadeTo > shadeFrom ? <rect class="period" x={x(shadeFrom).toFixed(1)} y={T} width={(x(shadeTo) - x(shadeFrom)).toFixed(1)} height={H - T - B}><title>incident</title></rect> : null}
        {yTicks.map((v) => (
          <g class="tick">
            <line x1={L} x2={W - R} y1={y(v).toFixed(1)} y2={y(v).toFixed(1)} />
            <text x={L - 4} y={(y(v) + 4).toFixed(1)} text-anchor="end">{fmt(v)}</text>
          </g>
        ))}
        {timeTicks(p.from, p.to).map((t) => (
          <text class="xtick" x={x(t).toFixed(1)} y={H - 6} text-anchor="middle">{new Date(t).toISOString().slice(11, 16)}</text>
        ))}
        {p.threshold ? <line class="threshold" x1={L} x2={W - R} y1={y(p.threshold.value).toFixed(1)} y2={y(p.threshold.value).toFixed(1)}><title>{p.threshold.label}</title></line> : null}
        {p.series.map((s) => {
          // Lines only between points closer than gapMs: a gap is missing data, not a slope.
          const segments: string[][] = [];
          let last: number | null = null;
          for (const [t, v] of s.points) {
            if (v === null) continue;
            if (last === null || t - last > p.gapMs) segments.push([]);
            segments.at(-1)!.push(`${x(t).toFixed(1)},${y(v).toFixed(1)}`);
            last = t;
          }
          return (
            <g class={`series ${s.cls}`}>
              {segments.filter((seg) => seg.length > 1).map((seg) => <polyline points={seg.join(' ')} />)}
              {s.points.filter((pt) => pt[1] !== null).map(([t, v]) => <circle class="pt" cx={x(t).toFixed(1)} cy={y(v!).toFixed(1)} r="2" />)}
            </g>
          );
        })}
      </svg>
      {count === 0 ? <p class="muted">No measurements in this period.</p> : null}
    </figure>
  );
}
