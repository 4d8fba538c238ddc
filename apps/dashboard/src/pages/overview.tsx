import { useState } from 'react';
import { LineChart, type Series } from '../components/line-chart';
import { Notice } from '../components/notice';
import { QueueSelect } from '../components/queue-select';
import { useDashboard } from '../context';
import { formatCount, formatDuration } from '../format';
import { WINDOW_SECONDS, type LiveStats } from '../live-history';
import { MetricsHistoryCard } from './metrics-history';
import { QueueCard } from './queue-card';

const ALL = '';

function throughputSeries(live: LiveStats, queues: string[], now: number): Series[] {
  const completed: [number, number][] = [];
  const failed: [number, number][] = [];
  // The current second is still filling up: it would always show a dip.
  for (let second = now - WINDOW_SECONDS + 1; second < now; second += 1) {
    let c = 0;
    let f = 0;
    for (const queue of queues) {
      const bucket = live.throughput[queue]?.get(second);
      c += bucket?.completed ?? 0;
      f += bucket?.failed ?? 0;
    }
    completed.push([second, c]);
    failed.push([second, f]);
  }
  return [
    { label: 'completed/s', tone: 'tone-completed', points: completed },
    { label: 'failed/s', tone: 'tone-dead', points: failed },
  ];
}

function depthSeries(live: LiveStats, queues: string[]): Series[] {
  const sum = (point: LiveStats['depth'][number], state: 'pending' | 'scheduled' | 'retrying' | 'processing') =>
    queues.reduce((total, queue) => total + (point.queues[queue]?.[state] ?? 0), 0);
  return (['pending', 'processing', 'scheduled', 'retrying'] as const).map((state) => ({
    label: state,
    tone: `tone-${state}`,
    points: live.depth.map((point): [number, number] => [point.at, sum(point, state)]),
  }));
}

/** The overview: every queue's counts, throughput and depth over time, and the workers, live. */
export function Overview() {
  const { live, queues } = useDashboard();
  const [chosen, setChosen] = useState(ALL);
  const snapshot = live.latest;
  if (!snapshot) {
    return live.state === 'unavailable' ? <Notice kind="error">{live.message}</Notice> : <p className="muted">Connecting to the live statistics…</p>;
  }
  const now = Math.floor(Date.parse(snapshot.at) / 1000);
  const shown = chosen === ALL ? queues : [chosen];
  const workers = Object.entries(snapshot.queues).flatMap(([queue, stats]) => stats.consumers.map((consumer) => ({ queue, ...consumer })));

  return (
    <>
      <h2>Overview</h2>
      {live.state === 'unavailable' && <Notice kind="error">{live.message}</Notice>}
      <section className="queue-grid" aria-label="Queues" data-at={snapshot.at}>
        {Object.entries(snapshot.queues).map(([name, queue]) => (
          <QueueCard key={name} name={name} queue={queue} />
        ))}
      </section>

      <section className="card" aria-labelledby="charts-title">
        <header className="card-header">
          <h3 id="charts-title">Activity</h3>
          <QueueSelect queues={queues} value={chosen} onChange={setChosen} />
        </header>
        <div className="charts">
          <LineChart title="Throughput (attempts per second)" series={throughputSeries(live, shown, now)} now={now} windowSeconds={WINDOW_SECONDS} unit="per second" />
          <LineChart title="Queue depth (jobs)" series={depthSeries(live, shown)} now={now} windowSeconds={WINDOW_SECONDS} unit="jobs" />
        </div>
      </section>

      <MetricsHistoryCard />

      <section className="card" aria-labelledby="workers-title">
        <h3 id="workers-title">Workers</h3>
        {workers.length === 0 ? (
          <p className="muted">No worker has joined any queue yet.</p>
        ) : (
          <div className="table-wrap">
            <table className="workers">
              <thead>
                <tr>
                  <th scope="col">Worker</th>
                  <th scope="col">Queue</th>
                  <th scope="col" className="num">In flight</th>
                  <th scope="col" className="num">Idle for</th>
                </tr>
              </thead>
              <tbody>
                {workers.map((worker) => (
                  <tr key={`${worker.queue}/${worker.name}`}>
                    <td className="mono">{worker.name}</td>
                    <td>{worker.queue}</td>
                    <td className="num">{formatCount(worker.pending)}</td>
                    <td className="num">{formatDuration(worker.idleMs)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}
