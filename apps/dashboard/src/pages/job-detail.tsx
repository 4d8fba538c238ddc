import { useEffect, useState } from 'react';
import { ApiError } from '../api/client';
import { CANCELLABLE, FINISHED, RUNNABLE_NOW, type Job } from '../api/types';
import { JsonView } from '../components/json-view';
import { Notice } from '../components/notice';
import { StatusBadge } from '../components/status-badge';
import { useDashboard } from '../context';
import { formatTime } from '../format';
import { href } from '../route';
import { CancelButton } from './cancel-button';
import { Timeline } from './timeline';
import { WaitingReason } from './waiting-reason';

/** How often a job that is still moving is read again. */
const REFRESH_MS = 1000;

/** One job: its fields, payload, result, progress, and the time line of its history; live until it finishes. */
export function JobDetail({ id }: { id: string }) {
  const { client, report } = useDashboard();
  // The latest reading, whether from a read or from the answer to an action, and when it was taken.
  const [reading, setReading] = useState<{ job: Job; at: number }>();
  const [error, setError] = useState<string>();
  const [note, setNote] = useState<string>();
  const [reads, setReads] = useState(0);
  const job = reading?.job;
  const moving = job !== undefined && !FINISHED.includes(job.status);
  const show = (next: Job) => setReading({ job: next, at: Date.now() });

  useEffect(() => {
    const controller = new AbortController();
    client.get<Job>(`/jobs/${encodeURIComponent(id)}`, {}, controller.signal).then(
      (next) => setReading({ job: next, at: Date.now() }),
      (failure: unknown) => {
        if (controller.signal.aborted) return;
        if (failure instanceof ApiError && failure.isAuth) report(failure);
        setError(failure instanceof Error ? failure.message : String(failure));
      },
    );
    return () => controller.abort();
  }, [client, id, reads, report]);

  useEffect(() => {
    if (!moving) return;
    const timer = setTimeout(() => setReads((n) => n + 1), REFRESH_MS);
    return () => clearTimeout(timer);
  }, [moving, reading]);

  /** Runs an action of the API on this job and shows the job it answers with. */
  const act = async (action: 'retry' | 'run-now' | 'discard', outcome: string) => {
    try {
      show(await client.post<Job>(`/jobs/${id}/${action}`));
      setNote(outcome);
    } catch (error) {
      report(error);
    }
  };

  if (error && !job) return <Notice kind="error">{error}</Notice>;
  if (!reading || !job) return <p className="muted">Loading job {id}…</p>;

  return (
    <>
      <p>
        <a href={href('/jobs', { queue: job.queue })}>← Jobs of {job.queue}</a>
      </p>
      <div className="title-row">
        <h2>
          Job <span className="mono">{job.id}</span>
        </h2>
        <StatusBadge status={job.status} />
        {CANCELLABLE.includes(job.status) && (
          <CancelButton
            id={job.id}
            done={(cancelled) => {
              show(cancelled);
              setNote('Cancelled.');
            }}
          />
        )}
        {RUNNABLE_NOW.includes(job.status) && (
          <button type="button" className="primary" onClick={() => void act('run-now', 'Sent to its queue to run now.')}>
            Run now
          </button>
        )}
        {job.status === 'dead' && (
          <>
            <button type="button" className="primary" onClick={() => void act('retry', 'Sent back to its queue.')}>
              Retry
            </button>
            <button type="button" className="danger" onClick={() => void act('discard', 'Discarded: out of the dead-letter stream for good.')}>
              Discard
            </button>
          </>
        )}
      </div>
      {note && <Notice kind="success">{note}</Notice>}
      {job.waiting && <WaitingReason waiting={job.waiting} />}
      <section className="card">
        <dl className="fields">
          <dt>Type</dt>
          <dd>{job.type}</dd>
          <dt>Queue</dt>
          <dd>{job.queue}</dd>
          <dt>Attempts</dt>
          <dd>
            {job.attempts} of {job.maxAttempts}
          </dd>
          <dt>Priority</dt>
          <dd>{job.priority}</dd>
          <dt>Created</dt>
          <dd>{formatTime(job.createdAt)}</dd>
          <dt>Runs at</dt>
          <dd>{formatTime(job.runAt)}</dd>
          <dt>Finished</dt>
          <dd>{job.finishedAt ? formatTime(job.finishedAt) : '—'}</dd>
          {job.idempotencyKey && (
            <>
              <dt>Idempotency key</dt>
              <dd className="mono">{job.idempotencyKey}</dd>
            </>
          )}
          {job.group && (
            <>
              <dt>Group</dt>
              <dd>
                <a href={href('/jobs', { group: job.group })} className="mono" title="Jobs of this group">
                  {job.group}
                </a>
              </dd>
            </>
          )}
          {job.schedule && (
            <>
              <dt>Schedule</dt>
              <dd>
                <a href={href('/schedules')}>{job.schedule.name}</a>, tick {formatTime(job.schedule.tick)}
              </dd>
            </>
          )}
          {job.lastError && (
            <>
              <dt>Last error</dt>
              <dd className="error-text">{job.lastError}</dd>
            </>
          )}
        </dl>
      </section>
      <div className="columns">
        <section className="card">
          <h3>Payload</h3>
          <JsonView value={job.payload} label="Payload" />
        </section>
        <section className="card">
          <h3>Result</h3>
          <JsonView value={job.result} label="Result" />
        </section>
        <section className="card">
          <h3>Progress</h3>
          <JsonView value={job.progress} label="Progress" />
        </section>
      </div>
      <section className="card" aria-labelledby="timeline-title">
        <h3 id="timeline-title">Timeline</h3>
        <Timeline history={job.history} finished={!moving} now={reading.at} />
      </section>
    </>
  );
}
