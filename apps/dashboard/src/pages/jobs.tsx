import { useState, type FormEvent } from 'react';
import { CANCELLABLE, JOB_STATES, type ListedJob, type Page } from '../api/types';
import { JobTable, type Column } from '../components/job-table';
import { Notice } from '../components/notice';
import { Pager } from '../components/pager';
import { PayloadCell } from '../components/payload-cell';
import { StatusBadge } from '../components/status-badge';
import { useDashboard } from '../context';
import { formatTime, shortId } from '../format';
import { href, navigate, type Route } from '../route';
import { useRequest } from '../use-request';
import { CancelButton } from './cancel-button';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PAGE_SIZE = 25;

const COLUMNS: Column<ListedJob>[] = [
  { heading: 'Status', cell: (job) => <StatusBadge status={job.status} /> },
  { heading: 'Attempts', numeric: true, cell: (job) => `${job.attempts}/${job.maxAttempts}` },
  { heading: 'Created', cell: (job) => formatTime(job.createdAt) },
  { heading: 'Payload', className: 'payload', cell: (job) => <PayloadCell job={job} /> },
];

/** The jobs page: filters and search in the URL, one keyset page at a time. */
export function Jobs({ route }: { route: Route }) {
  const { client, queues, jobTypes } = useDashboard();
  const filter = {
    queue: route.query.get('queue') ?? '',
    status: route.query.get('status') ?? '',
    type: route.query.get('type') ?? '',
    key: route.query.get('key') ?? '',
  };
  const cursor = route.query.get('cursor') ?? '';
  const [note, setNote] = useState<string>();
  const list = useRequest(`${route.query.toString()}`, (signal) =>
    client.get<Page<ListedJob>>(
      '/jobs',
      { queue: filter.queue, status: filter.status, type: filter.type, idempotencyKey: filter.key, cursor, limit: PAGE_SIZE },
      signal,
    ),
  );

  const go = (changes: Partial<typeof filter> & { cursor?: string; previous?: string }) =>
    navigate(href('/jobs', { ...filter, previous: undefined, cursor: undefined, ...changes }));

  const onSearch = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const text = String(new FormData(event.currentTarget).get('search') ?? '').trim();
    // An id names one job: open it (GET /jobs/:id is current even before the history catches up).
    if (UUID.test(text)) navigate(href(`/jobs/${text.toLowerCase()}`));
    else go({ key: text });
  };


  return (
    <>
      <h2>Jobs</h2>
      <form className="filters card" onSubmit={onSearch} role="search" aria-label="Find jobs">
        <label>
          Queue
          <select value={filter.queue} onChange={(event) => go({ queue: event.target.value })}>
            <option value="">any</option>
            {queues.map((queue) => (
              <option key={queue}>{queue}</option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select value={filter.status} onChange={(event) => go({ status: event.target.value })}>
            <option value="">any</option>
            {JOB_STATES.map((state) => (
              <option key={state}>{state}</option>
            ))}
          </select>
        </label>
        <label>
          Type
          <select value={filter.type} onChange={(event) => go({ type: event.target.value })}>
            <option value="">any</option>
            {jobTypes.map((type) => (
              <option key={type.name}>{type.name}</option>
            ))}
          </select>
        </label>
        <label className="grow">
          Job id or idempotency key
          {/* Keyed by the searched key, so it shows what the URL says after any navigation. */}
          <input key={filter.key} name="search" type="search" defaultValue={filter.key} placeholder="01936f0e-… or welcome-mail-42" />
        </label>
        <button type="submit" className="primary">
          Search
        </button>
        <button type="button" onClick={() => list.reload()}>
          Refresh
        </button>
      </form>

      {note && <Notice kind="success">{note}</Notice>}
      {list.error && <Notice kind="error">{list.error}</Notice>}
      <JobTable
        jobs={list.data?.jobs}
        loading={list.loading}
        empty="No jobs match. The list comes from the history, a few milliseconds behind the queue."
        columns={COLUMNS}
        actions={(job) =>
          CANCELLABLE.includes(job.status) && (
            <CancelButton
              id={job.id}
              done={(cancelled) => {
                setNote(`Job ${shortId(cancelled.id)} is ${cancelled.status}.`);
                list.reload();
              }}
            />
          )
        }
      />
      <Pager query={route.query} nextCursor={list.data?.nextCursor} go={go} />
    </>
  );
}
