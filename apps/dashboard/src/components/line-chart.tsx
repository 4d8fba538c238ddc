import { formatCount } from '../format';

/** One line of a chart: points of (Unix second, value), in order. */
export interface Series {
  label: string;
  /** CSS class giving the line its colour. */
  tone: string;
  points: [number, number][];
}

const WIDTH = 600;
const HEIGHT = 180;
const PAD = { left: 44, right: 8, top: 10, bottom: 22 };

function niceMax(value: number): number {
  if (value <= 1) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 2.5, 5, 10].find((m) => m * magnitude >= value) ?? 10;
  return step * magnitude;
}

/** How long ago a tick is, as its label says it: 5 min, 3 h, 2 d. */
function ago(seconds: number): string {
  if (seconds < 3600) return `${seconds / 60} min`;
  return seconds < 86_400 ? `${seconds / 3600} h` : `${seconds / 86_400} d`;
}

/**
 * A small SVG line chart over the last `windowSeconds` up to `now`, with a tick every `tickSeconds`
 * (default a minute). It draws at most one point per second per series, so its cost does not grow
 * with the job rate.
 */
export function LineChart({ title, series, now, windowSeconds, unit, tickSeconds = 60 }: {
  title: string; series: Series[]; now: number; windowSeconds: number; unit: string; tickSeconds?: number;
}) {
  const from = now - windowSeconds;
  const max = niceMax(Math.max(0, ...series.flatMap((s) => s.points.map(([, y]) => y))));
  const x = (second: number) => PAD.left + ((second - from) / windowSeconds) * (WIDTH - PAD.left - PAD.right);
  const y = (value: number) => HEIGHT - PAD.bottom - (value / max) * (HEIGHT - PAD.top - PAD.bottom);
  const ticks = Array.from({ length: Math.floor(windowSeconds / tickSeconds) + 1 }, (_, i) => now - i * tickSeconds);
  const latest = series.map((s) => `${s.label} ${formatCount(s.points.at(-1)?.[1] ?? 0)}`).join(', ');

  return (
    <figure className="chart">
      <figcaption>
        <span className="chart-title">{title}</span>
        <span className="legend">
          {series.map((s) => (
            <span key={s.label} className={`legend-item ${s.tone}`}>
              <span className="swatch" aria-hidden="true" />
              {s.label}: <strong>{formatCount(s.points.at(-1)?.[1] ?? 0)}</strong>
            </span>
          ))}
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} role="img" aria-label={`${title}, last ${ago(windowSeconds)}; now ${latest} ${unit}`}>
        {[0, 0.5, 1].map((fraction) => (
          <g key={fraction} className="grid">
            <line x1={PAD.left} x2={WIDTH - PAD.right} y1={y(max * fraction)} y2={y(max * fraction)} />
            <text x={PAD.left - 6} y={y(max * fraction) + 4} textAnchor="end">
              {formatCount(max * fraction)}
            </text>
          </g>
        ))}
        {ticks.map((second, i) => (
          <text key={second} className="axis" x={x(second)} y={HEIGHT - 6} textAnchor={i === 0 ? 'end' : 'middle'}>
            {i === 0 ? 'now' : `−${ago(i * tickSeconds)}`}
          </text>
        ))}
        {series.map((s) => (
          <polyline
            key={s.label}
            className={`line ${s.tone}`}
            points={s.points.filter(([second]) => second >= from).map(([second, value]) => `${x(second).toFixed(1)},${y(value).toFixed(1)}`).join(' ')}
          />
        ))}
      </svg>
    </figure>
  );
}
