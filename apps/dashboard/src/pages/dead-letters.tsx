import { useState } from 'react';
import type { DeadJob, Job, JobAction, Page } from '../api/types';
import { JobTable, type Column } from '../components/job-table';
import { Notice } from '../components/notice';
import { Pager } from '../components/pager';
import { PayloadCell } from '../components/payload-cell';
import { useDashboard } from '../context';
import { formatTime, shortId } from '../format';
import { href, navigate, type Route } from '../route';
import { useRequest } from '../use-request';
import { BulkActions, useSelection, type BulkAction, type Matching } from './bulk-actions';
import { RetryAll } from './retry-all';

const PAGE_SIZE = 25;

const BULK_ACTIONS: BulkAction[] = [
  { action: 'retry', label: 'Retry', effect: 'back to their queues, attempts reset' },
  { action: 'discard', label: 'Discard', effect: 'out of the dead-letter stream for good, recorded as discarded', danger: true },
];

const COLUMNS: Column<DeadJob>[] = [
  { heading: 'Reason', cell: (job) => <span className={`badge reason-${job.reason}`}>{job.reason}</span> },
  { heading: 'Last error', className: 'error-text', cell: (job) => job.lastError ?? '—' },
  { heading: 'Attempts', numeric: true, cell: (job) => `${job.attempts}/${job.maxAttempts}` },
  { heading: 'Died', cell: (job) => formatTime(job.deadAt) },
  { heading: 'Payload', className: 'payload', cell: (job) => <PayloadCell job={job} /> },
];

/** The dead-letter streams, newest first: why each job died, its last error, and retry. */
export function DeadLetters({ route }: { route: Route }) {
  const { client, queues, report } = useDashboard();
  const queue = route.query.get('queue') ?? '';
  const cursor = route.query.get('cursor') ?? '';
  const [note, setNote] = useState<string>();
  const list = useRequest(`dead?${route.query.toString()}`, (signal) => client.get<Page<DeadJob>>('/jobs/dead', { queue, cursor, limit: PAGE_SIZE }, signal));
  const go = (query: Record<string, string | undefined>) => navigate(href('/dead', { queue, ...query }));

  const selection = useSelection(queue);
  const filter = queue ? { queue } : {};
  const matching: Matching = {
    described: `dead jobs of ${queue ? `queue ${queue}` : 'every queue'}`,
    count: async () => (await client.get<{ count: number }>('/jobs/dead/count', filter)).count,
    async run(action: JobAction) {
      const done = action === 'discard'
        ? (await client.post<{ discarded: number }>('/jobs/dead/discard', filter)).discarded
        : (await client.post<{ retried: number }>('/jobs/dead/retry', filter)).retried;
      return { done, conflict: 0, notFound: 0 };
    },
  };

  const retry = async (id: string) => {
    try {
      const job = await client.post<Job>(`/jobs/${id}/retry`);
      setNote(`Job ${shortId(job.id)} sent back: it is ${job.status}.`);
      list.reload();
    } catch (error) {
      report(error);
    }
  };

  return (
    <>
      <h2>Dead letters</h2>
      <div className="filters card">
        <label>
          Queue
          <select value={queue} onChange={(event) => navigate(href('/dead', { queue: event.target.value }))}>
            <option value="">every queue</option>
            {queues.map((name) => (
              <option key={name}>{name}</option>
            ))}
          </select>
        </label>
        <button type="button" onClick={() => list.reload()}>
          Refresh
        </button>
      </div>
      <RetryAll queue={queue} done={() => list.reload()} />
      <BulkActions actions={BULK_ACTIONS} selection={selection} matching={matching} done={() => list.reload()} />
      {note && <Notice kind="success">{note}</Notice>}
      {list.error && <Notice kind="error">{list.error}</Notice>}
      <JobTable
        selection={selection}
        jobs={list.data?.jobs}
        loading={list.loading}
        empty="No dead jobs."
        columns={COLUMNS}
        actions={(job) => (
          <button type="button" className="primary" onClick={() => void retry(job.id)} aria-label={`Retry job ${job.id}`}>
            Retry
          </button>
        )}
      />
      <Pager query={route.query} nextCursor={list.data?.nextCursor} go={go} />
    </>
  );
}
