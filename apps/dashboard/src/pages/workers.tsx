import type { WorkerProcess } from '../api/types';
import { CardSection, PolledPage } from '../components/polled-page';
import { useDashboard } from '../context';
import { formatBytes, formatCount, formatDuration, shortId } from '../format';
import { href } from '../route';
import { usePolledRequest } from '../use-request';

/** Workers report about every 5 s: reading more often shows nothing new. */
const REFRESH_MS = 5000;

/** The worker processes that are live, and every job they run now. */
export function Workers() {
  const { client, live } = useDashboard();
  const list = usePolledRequest('workers', (signal) => client.get<{ workers: WorkerProcess[] }>('/workers', {}, signal), REFRESH_MS);
  // The live statistics' clock, which ticks every second; before their first snapshot, the latest report's.
  const now = live.latest ? Date.parse(live.latest.at) : Math.max(0, ...(list.data?.workers ?? []).map((worker) => worker.seenAt));

  return (
    <PolledPage title="Workers" request={list}>
      {({ workers }) => (
        <>
          <CardSection id="processes-title" title="Processes">
            {workers.length === 0 ? <p className="muted">No worker is live: none has reported in the last 15 seconds.</p> : <ProcessTable workers={workers} now={now} />}
          </CardSection>
          <CardSection id="running-title" title="Running now">
            <RunningTable workers={workers} now={now} />
          </CardSection>
        </>
      )}
    </PolledPage>
  );
}

function ProcessTable({ workers, now }: { workers: WorkerProcess[]; now: number }) {
  return (
    <div className="table-wrap">
      <table className="processes">
        <thead>
          <tr>
            <th scope="col">Worker</th>
            <th scope="col">Host</th>
            <th scope="col" className="num">PID</th>
            <th scope="col" className="num">Memory</th>
            <th scope="col">Version</th>
            <th scope="col" className="num">Up for</th>
            <th scope="col">Queues</th>
            <th scope="col" className="num">Busy</th>
            <th scope="col" className="num">Last seen</th>
          </tr>
        </thead>
        <tbody>
          {workers.map((worker) => (
            <tr key={worker.name} data-worker={worker.name}>
              <th scope="row" className="mono">
                {worker.name}
                {worker.draining && <span className="badge status-paused">stopping</span>}
              </th>
              <td>{worker.hostname}</td>
              <td className="num">{worker.pid}</td>
              <td className="num">{formatBytes(worker.rssBytes)}</td>
              <td>{worker.version}</td>
              <td className="num">{formatDuration(Math.max(0, now - worker.startedAt))}</td>
              <td>{worker.queues.join(', ')}</td>
              <td className="num" data-busy>
                {formatCount(worker.runningCount)} of {formatCount(worker.concurrency)}
              </td>
              <td className="num">{formatDuration(Math.max(0, now - worker.seenAt))} ago</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function RunningTable({ workers, now }: { workers: WorkerProcess[]; now: number }) {
  const jobs = workers.flatMap((worker) => worker.running.map((job) => ({ worker: worker.name, ...job })));
  const unlisted = workers.reduce((sum, worker) => sum + worker.runningCount - worker.running.length, 0);
  if (jobs.length === 0) return <p className="muted">No job is running.</p>;
  return (
    <>
      <div className="table-wrap">
        <table className="running">
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">Type</th>
              <th scope="col">Queue</th>
              <th scope="col" className="num">Attempt</th>
              <th scope="col">Worker</th>
              <th scope="col" className="num">Running for</th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((job) => (
              <tr key={job.id} data-running-job={job.id}>
                <td className="mono">
                  <a href={href(`/jobs/${job.id}`)}>{shortId(job.id)}</a>
                </td>
                <td>{job.type}</td>
                <td>{job.queue}</td>
                <td className="num">{job.attempt}</td>
                <td className="mono">{job.worker}</td>
                <td className="num">{formatDuration(Math.max(0, now - job.startedAt))}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {unlisted > 0 && <p className="muted">And {formatCount(unlisted)} more: each worker names the 50 it has run longest.</p>}
    </>
  );
}
