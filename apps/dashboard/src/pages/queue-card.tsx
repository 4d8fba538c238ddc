import { useState } from 'react';
import { JOB_STATES, type PartitionSnapshot, type QueueSnapshot } from '../api/types';
import { StatusBadge } from '../components/status-badge';
import { useDashboard } from '../context';
import { formatCount, formatDuration } from '../format';
import { href } from '../route';
import { QueueLimits } from './queue-limits';

/** One queue: its jobs per state (each a link to those jobs), its throughput, and pause/resume. */
export function QueueCard({ name, queue }: { name: string; queue: QueueSnapshot }) {
  const { client, report } = useDashboard();
  const [busy, setBusy] = useState(false);
  // The stream shows the new state within a second; until then the button shows what was asked.
  const [asked, setAsked] = useState<boolean | null>(null);
  const paused = asked ?? queue.paused;
  if (asked !== null && asked === queue.paused) setAsked(null);

  const toggle = async () => {
    setBusy(true);
    try {
      const state = await client.post<{ paused: boolean }>(`/queues/${encodeURIComponent(name)}/${paused ? 'resume' : 'pause'}`);
      setAsked(state.paused);
    } catch (error) {
      report(error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <article className="card queue-card" aria-labelledby={`queue-${name}`} data-queue={name}>
      <header className="card-header">
        <h3 id={`queue-${name}`}>{name}</h3>
        <StatusBadge status={paused ? 'paused' : 'running'} />
        <button type="button" className={paused ? 'primary' : ''} onClick={() => void toggle()} disabled={busy} aria-label={`${paused ? 'Resume' : 'Pause'} queue ${name}`}>
          {paused ? 'Resume' : 'Pause'}
        </button>
      </header>
      <dl className="counts">
        {JOB_STATES.map((state) => (
          <div key={state} className={`count status-${state}`} data-state={state}>
            <dt>
              <a href={href('/jobs', { queue: name, status: state })}>{state}</a>
            </dt>
            <dd>{formatCount(queue[state])}</dd>
          </div>
        ))}
      </dl>
      <Latency latencyMs={queue.latencyMs ?? 0} />
      <WaitingWithoutWorker waiting={queue.waitingWithoutWorker} />
      <FairGroups groups={queue.groups} />
      <QueueLimits name={name} limits={queue.limits ?? {}} held={queue.heldByLimits ?? {}} />
      <Partitions name={name} partitions={queue.partitions ?? []} />
      <p className="card-foot">
        {formatCount(queue.throughput.completedLastMinute)} completed and {formatCount(queue.throughput.failedLastMinute)} failed in the last minute ·{' '}
        {queue.consumers.length} {queue.consumers.length === 1 ? 'worker' : 'workers'}
      </p>
    </article>
  );
}

/** A queue of several partitions, one row each: where its jobs wait and run, and whether work spreads evenly. */
function Partitions({ name, partitions }: { name: string; partitions: PartitionSnapshot[] }) {
  if (partitions.length < 2) return null;
  return (
    <details className="partitions" data-partitions={partitions.length}>
      <summary>{partitions.length} partitions</summary>
      <div className="table-wrap">
        <table>
          <caption className="sr-only">Partitions of queue {name}</caption>
          <thead>
            <tr>
              <th scope="col">Partition</th>
              <th scope="col">Pending</th>
              <th scope="col">Processing</th>
              <th scope="col">Delayed</th>
              <th scope="col">Dead</th>
              <th scope="col">Latency</th>
              <th scope="col">Done last minute</th>
              <th scope="col">Workers</th>
            </tr>
          </thead>
          <tbody>
            {partitions.map((partition) => (
              <tr key={`${partition.of}-${partition.index}`} data-partition={`${partition.index}/${partition.of}`}>
                <th scope="row">
                  {partition.index}/{partition.of}
                  {partition.paused && ' (paused)'}
                </th>
                <td>{formatCount(partition.pending)}</td>
                <td>{formatCount(partition.processing)}</td>
                <td>{formatCount(partition.scheduled + partition.retrying)}</td>
                <td>{formatCount(partition.dead)}</td>
                <td data-partition-latency={partition.latencyMs}>{formatDuration(partition.latencyMs)}</td>
                <td>{formatCount(partition.completedLastMinute)}</td>
                <td>{formatCount(partition.consumers)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  );
}

/** Queue latency: how long the oldest job waiting for a worker has waited. */
function Latency({ latencyMs }: { latencyMs: number }) {
  return (
    <p className="card-note" data-latency={latencyMs}>
      Latency: {latencyMs > 0 ? `the oldest waiting job has waited ${formatDuration(latencyMs)}` : 'no job waits for a worker'}
    </p>
  );
}

/** Types whose jobs wait because no live worker serves them: a worker is missing, or was never started. */
/** Where the queue's fair groups stand; nothing for a queue without grouped jobs. */
function FairGroups({ groups }: { groups: { waiting: number; running: number } | undefined }) {
  if (!groups || (groups.waiting === 0 && groups.running === 0)) return null;
  return (
    <p className="card-note" data-fair-groups>
      Fair groups: {formatCount(groups.waiting)} {groups.waiting === 1 ? 'job waits' : 'jobs wait'} their group&apos;s turn; {formatCount(groups.running)}{' '}
      {groups.running === 1 ? 'group runs' : 'groups run'} jobs now.
    </p>
  );
}

function WaitingWithoutWorker({ waiting }: { waiting: Record<string, number> }) {
  const types = Object.entries(waiting);
  if (types.length === 0) return null;
  return (
    <p className="card-warning" role="status" data-waiting-without-worker>
      No worker serves{' '}
      {types.map(([type, count], index) => (
        <span key={type}>
          {index > 0 && ', '}
          <code>{type}</code> ({formatCount(count)} waiting)
        </span>
      ))}
      ; they are dead-lettered (no-handler) if none starts in time.
    </p>
  );
}
