import { useState } from 'react';
import type { Schedule, ScheduleRun } from '../api/types';
import { Notice } from '../components/notice';
import { Pager } from '../components/pager';
import { StatusBadge } from '../components/status-badge';
import { useDashboard } from '../context';
import { formatDuration, formatTime, shortId } from '../format';
import { href, navigate, type Route } from '../route';
import { useRequest } from '../use-request';

const PAGE_SIZE = 20;

function timingOf(schedule: Schedule): string {
  if (schedule.cron !== null) return `cron ${schedule.cron}${schedule.timezone === 'UTC' ? '' : ` (${schedule.timezone})`}`;
  return `every ${formatDuration(schedule.everyMs ?? 0)}`;
}

/** What became of a run: its job (a link), or why there is none. */
function RunOutcome({ run }: { run: ScheduleRun }) {
  if (run.status === 'missed') return <>{run.missedCount ?? 'many'} missed, up to {formatTime(run.lastTick ?? run.tick)}</>;
  return (
    <>
      {run.jobId && <a href={href(`/jobs/${run.jobId}`)} className="mono" title={run.jobId}>{shortId(run.jobId)}</a>}
      {run.reason && <span className={run.status === 'failed' ? 'error-text' : ''}> {run.reason}</span>}
    </>
  );
}

/** One schedule: its timing and job, pause/resume and trigger, its next ticks and newest runs. */
function ScheduleCard({ schedule, changed }: { schedule: Schedule; changed(note: string): void }) {
  const { client, report } = useDashboard();
  const [busy, setBusy] = useState(false);
  const path = `/schedules/${encodeURIComponent(schedule.name)}`;

  const act = async (action: 'pause' | 'resume' | 'trigger') => {
    setBusy(true);
    try {
      if (action === 'trigger') {
        const { run } = await client.post<{ run: ScheduleRun }>(`${path}/trigger`);
        changed(run.jobId ? `Triggered ${schedule.name}: job ${shortId(run.jobId)}.` : `Triggered ${schedule.name}, but no job could be added: ${run.reason ?? ''}`);
      } else {
        await client.post<Schedule>(`${path}/${action}`);
        changed(`Schedule ${schedule.name} ${action === 'pause' ? 'paused' : 'resumed'}.`);
      }
    } catch (error) {
      report(error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <article className="card schedule-card" aria-labelledby={`schedule-${schedule.name}`} data-schedule={schedule.name}>
      <header className="card-header">
        <h3 id={`schedule-${schedule.name}`}>{schedule.name}</h3>
        <StatusBadge status={schedule.paused ? 'paused' : 'running'} />
        <button type="button" className={schedule.paused ? 'primary' : ''} disabled={busy} onClick={() => void act(schedule.paused ? 'resume' : 'pause')}
          aria-label={`${schedule.paused ? 'Resume' : 'Pause'} schedule ${schedule.name}`}>
          {schedule.paused ? 'Resume' : 'Pause'}
        </button>
        <button type="button" disabled={busy} onClick={() => void act('trigger')} aria-label={`Trigger schedule ${schedule.name}`}>
          Run now
        </button>
      </header>
      <p>
        {timingOf(schedule)} · <span className="mono">{schedule.job.type}</span> on {schedule.job.queue} · overlap {schedule.overlap} · catch up {schedule.catchUp}
      </p>
      <h4>Next runs</h4>
      {schedule.nextRuns.length === 0 ? <p className="muted">None while paused.</p> : (
        <ul className="next-runs">
          {schedule.nextRuns.map((tick) => <li key={tick}>{formatTime(tick)}</li>)}
        </ul>
      )}
      <h4>Last runs</h4>
      {schedule.lastRuns.length === 0 ? <p className="muted">No runs yet.</p> : (
        <div className="table-wrap">
          <table className="last-runs">
            <thead>
              <tr><th scope="col">Tick</th><th scope="col">Kind</th><th scope="col">Status</th><th scope="col">Job</th></tr>
            </thead>
            <tbody>
              {schedule.lastRuns.map((run) => (
                <tr key={`${run.kind}-${run.tick}-${run.at}`} data-status={run.status}>
                  <td>{formatTime(run.tick)}</td>
                  <td>{run.kind}</td>
                  <td>{run.status}</td>
                  <td><RunOutcome run={run} /></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </article>
  );
}

/** The schedules by name, each with its next and last runs, pause, resume and run now. */
export function Schedules({ route }: { route: Route }) {
  const { client } = useDashboard();
  const cursor = route.query.get('cursor') ?? '';
  const [note, setNote] = useState<string>();
  const list = useRequest(`schedules?${route.query.toString()}`, (signal) =>
    client.get<{ schedules: Schedule[]; nextCursor: string | null }>('/schedules', { cursor, limit: PAGE_SIZE }, signal));
  const changed = (text: string) => {
    setNote(text);
    list.reload();
  };

  return (
    <>
      <h2>Schedules</h2>
      <div className="filters card">
        <button type="button" onClick={() => list.reload()}>
          Refresh
        </button>
      </div>
      {note && <Notice kind="success">{note}</Notice>}
      {list.error && <Notice kind="error">{list.error}</Notice>}
      {list.data && list.data.schedules.length === 0 && <p className="muted">No schedules. Add one with POST /schedules or sluice schedules add.</p>}
      <div className="schedule-cards">
        {list.data?.schedules.map((schedule) => <ScheduleCard key={schedule.name} schedule={schedule} changed={changed} />)}
      </div>
      <Pager query={route.query} nextCursor={list.data?.nextCursor} go={(query) => navigate(href('/schedules', query))} />
    </>
  );
}
