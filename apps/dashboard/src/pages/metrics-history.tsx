import { useEffect, useState } from 'react';
import type { MetricsHistory, Percentiles, TypeBreakdown } from '../api/types';
import { LineChart, type Series } from '../components/line-chart';
import { Notice } from '../components/notice';
import { QueueSelect } from '../components/queue-select';
import { useDashboard } from '../context';
import { formatCount, formatDuration } from '../format';
import { HISTORY_RANGES as RANGES, historyRead, type HistoryRange as Range } from '../history-ranges';
import { useRequest } from '../use-request';

/** The rollups are per minute: the card looks each minute whether its range is due for a read (historyRead). */
const REFRESH_MS = 60_000;

function useMinute(): number {
  const [minute, setMinute] = useState(() => Math.floor(Date.now() / REFRESH_MS));
  useEffect(() => {
    const timer = setInterval(() => setMinute(Math.floor(Date.now() / REFRESH_MS)), 5000);
    return () => clearInterval(timer);
  }, []);
  return minute;
}

function seriesOf(history: MetricsHistory, pick: (point: MetricsHistory['points'][number]) => number | null, label: string, tone: string): Series {
  return {
    label, tone,
    points: history.points.flatMap((point): [number, number][] => {
      const value = pick(point);
      return value === null ? [] : [[Math.floor(Date.parse(point.at) / 1000), value]];
    }),
  };
}

const duration = (ms: number | null): string => (ms === null ? '–' : formatDuration(ms));
const times = (percentiles: Percentiles): string => `${duration(percentiles.p50)} / ${duration(percentiles.p95)} / ${duration(percentiles.p99)}`;

/**
 * What happened over the last hour, day or week, per queue, from the per-minute rollups the server
 * keeps (GET /stats/history): throughput, failures, run times and depth, whether or not this page
 * was open then, and the same per job type (GET /stats/history/types).
 */
export function MetricsHistoryCard() {
  const { client, queues } = useDashboard();
  const [range, setRange] = useState<Range>('1 h');
  const [queue, setQueue] = useState('');
  const minute = useMinute();
  const { seconds, step, stepMs, tickSeconds } = RANGES[range];
  // Up to the end of the step under way, whole steps only, so a range is always as many points.
  const end = (Math.floor((minute * REFRESH_MS) / stepMs) + 1) * stepMs;
  const to = new Date(end).toISOString();
  const from = new Date(end - seconds * 1000).toISOString();
  const read = `${range}/${queue}/${historyRead(range, minute)}`;
  const history = useRequest(read, (signal) => client.get<MetricsHistory>('/stats/history', { queue, from, to, step }, signal));
  const types = useRequest(read, (signal) => client.get<TypeBreakdown>('/stats/history/types', { queue, from, to }, signal));
  const now = Math.floor(Date.parse(to) / 1000);
  const data = history.data;

  return (
    <section className="card" aria-labelledby="history-title">
      <header className="card-header">
        <h3 id="history-title">History</h3>
        <label className="inline-field">
          Range{' '}
          <select value={range} onChange={(event) => setRange(event.target.value as Range)}>
            {Object.keys(RANGES).map((name) => (
              <option key={name}>{name}</option>
            ))}
          </select>
        </label>
        <QueueSelect queues={queues} value={queue} onChange={setQueue} />
      </header>
      {history.error && <Notice kind="error">{history.error}</Notice>}
      {data && (
        <div className="charts" data-history-points={data.points.length}>
          <LineChart
            title={`Throughput (attempts per ${step})`}
            series={[seriesOf(data, (p) => p.completed, 'completed', 'tone-completed'), seriesOf(data, (p) => p.failed, 'failed', 'tone-dead')]}
            now={now} windowSeconds={seconds} tickSeconds={tickSeconds} unit={`per ${step}`}
          />
          <LineChart
            title="Run time (ms)"
            series={[
              seriesOf(data, (p) => p.runMs.p50, 'p50', 'tone-completed'), seriesOf(data, (p) => p.runMs.p95, 'p95', 'tone-retrying'),
              seriesOf(data, (p) => p.runMs.p99, 'p99', 'tone-dead'),
            ]}
            now={now} windowSeconds={seconds} tickSeconds={tickSeconds} unit="ms"
          />
          <LineChart
            title="Queue depth (jobs waiting)"
            series={[seriesOf(data, (p) => p.depth, 'pending', 'tone-pending')]}
            now={now} windowSeconds={seconds} tickSeconds={tickSeconds} unit="jobs"
          />
        </div>
      )}
      <h4>By job type</h4>
      {types.error && <Notice kind="error">{types.error}</Notice>}
      {types.data && types.data.types.length === 0 && <p className="muted">No job ended in this range.</p>}
      {types.data && types.data.types.length > 0 && (
        <div className="table-wrap">
          <table className="type-breakdown" aria-label="By job type">
            <thead>
              <tr>
                <th scope="col">Type</th>
                <th scope="col" className="num">Completed</th>
                <th scope="col" className="num">Failed</th>
                <th scope="col" className="num">Dead</th>
                <th scope="col" className="num">Run time p50 / p95 / p99</th>
                <th scope="col" className="num">Wait p50 / p95 / p99</th>
              </tr>
            </thead>
            <tbody>
              {types.data.types.map((row) => (
                <tr key={row.type}>
                  <td>{row.type}</td>
                  <td className="num">{formatCount(row.completed)}</td>
                  <td className="num">{formatCount(row.failed)}</td>
                  <td className="num">{formatCount(row.dead)}</td>
                  <td className="num">{times(row.runMs)}</td>
                  <td className="num">{times(row.waitMs)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
