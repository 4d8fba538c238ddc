import { useState } from 'react';
import { JOB_STATES, type QueueSnapshot } from '../api/types';
import { StatusBadge } from '../components/status-badge';
import { useDashboard } from '../context';
import { formatCount } from '../format';
import { href } from '../route';

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
      <WaitingWithoutWorker waiting={queue.waitingWithoutWorker} />
      <p className="card-foot">
        {formatCount(queue.throughput.completedLastMinute)} completed and {formatCount(queue.throughput.failedLastMinute)} failed in the last minute ·{' '}
        {queue.consumers.length} {queue.consumers.length === 1 ? 'worker' : 'workers'}
      </p>
    </article>
  );
}

/** Types whose jobs wait because no live worker serves them: a worker is missing, or was never started. */
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
