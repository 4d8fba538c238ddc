import { useState, type FormEvent } from 'react';
import { CANCELLABLE, JOB_STATES, type ActionTally, type JobAction, type ListedJob, type Page } from '../api/types';
import { JobTable, type Column } from '../components/job-table';
import { Notice } from '../components/notice';
import { Pager } from '../components/pager';
import { PayloadCell } from '../components/payload-cell';
import { StatusBadge } from '../components/status-badge';
import { useDashboard } from '../context';
import { formatTime, shortId } from '../format';
import { href, navigate, type Route } from '../route';
import { useRequest } from '../use-request';
import { BulkActions, useSelection, type BulkAction, type Matching } from './bulk-actions';
import { CancelButton } from './cancel-button';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PAGE_SIZE = 25;

const BULK_ACTIONS: BulkAction[] = [
  { action: 'retry', label: 'Retry', effect: 'the dead ones back to their queues, attempts reset' },
  { action: 'cancel', label: 'Cancel', effect: 'those not started yet withdrawn', danger: true },
  { action: 'discard', label: 'Discard', effect: 'the dead ones out of the dead-letter stream for good', danger: true },
];

const COLUMNS: Column<ListedJob>[] = [
  { heading: 'Status', cell: (job) => <StatusBadge status={job.status} /> },
  { heading: 'Attempts', numeric: true, cell: (job) => `${job.attempts}/${job.maxAttempts}` },
  { heading: 'Created', cell: (job) => formatTime(job.createdAt) },
  { heading: 'Payload', className: 'payload', cell: (job) => <PayloadCell job={job} /> },
];

/** What is wrong with a payload search, before the API is asked; undefined when nothing is (or it is empty). */
function payloadProblemOf(text: string): string | undefined {
  if (text === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return `The payload search is not JSON (${error instanceof Error ? error.message : String(error)}). Write an object such as {"userId":42}, keys in double quotes.`;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return 'The payload search must be a JSON object, such as {"userId":42}: the jobs whose payload contains it are listed.';
  return undefined;
}

/** The jobs page: filters and search in the URL, one keyset page at a time. */
export function Jobs({ route }: { route: Route }) {
  const { client, queues, jobTypes } = useDashboard();
  const filter = {
    queue: route.query.get('queue') ?? '',
    status: route.query.get('status') ?? '',
    type: route.query.get('type') ?? '',
    group: route.query.get('group') ?? '',
    key: route.query.get('key') ?? '',
    payload: route.query.get('payload') ?? '',
  };
  const cursor = route.query.get('cursor') ?? '';
  const [note, setNote] = useState<string>();
  const [payloadProblem, setPayloadProblem] = useState<string>();
  const list = useRequest(`${route.query.toString()}`, (signal) =>
    client.get<Page<ListedJob>>(
      '/jobs',
      { queue: filter.queue, status: filter.status, type: filter.type, group: filter.group, idempotencyKey: filter.key, payload: filter.payload, cursor, limit: PAGE_SIZE },
      signal,
    ),
  );

  const selection = useSelection(JSON.stringify(filter));
  const body = {
    ...(filter.queue && { queue: filter.queue }), ...(filter.status && { status: filter.status }), ...(filter.type && { type: filter.type }),
    ...(filter.group && { group: filter.group }), ...(filter.key && { idempotencyKey: filter.key }), ...(filter.payload && { payload: filter.payload }),
  };
  const matching: Matching = {
    described: `jobs matching ${Object.keys(body).length === 0 ? 'no filter (every job)' : Object.entries(body).map(([name, value]) => `${name} ${value}`).join(', ')}`,
    count: async (action: JobAction) => (await client.post<{ count: number }>(`/jobs/actions/${action}/matching/count`, body)).count,
    async run(action: JobAction) {
      // The API acts on a bounded number of jobs per call, and says where to go on from.
      const total: ActionTally = { done: 0, conflict: 0, notFound: 0 };
      let cursor: string | null = null;
      do {
        const answer: ActionTally & { nextCursor: string | null } = await client.post(`/jobs/actions/${action}/matching`, { ...body, ...(cursor && { cursor }) });
        total.done += answer.done;
        total.conflict += answer.conflict;
        total.notFound += answer.notFound;
        cursor = answer.nextCursor;
      } while (cursor !== null);
      return total;
    },
  };

  const go = (changes: Partial<typeof filter> & { cursor?: string; previous?: string }) =>
    navigate(href('/jobs', { ...filter, previous: undefined, cursor: undefined, ...changes }));

  const onSearch = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const text = String(form.get('search') ?? '').trim();
    const payload = String(form.get('payload') ?? '').trim();
    const problem = payloadProblemOf(payload);
    setPayloadProblem(problem);
    if (problem) return;
    // An id names one job: open it (GET /jobs/:id is current even before the history catches up).
    if (UUID.test(text)) navigate(href(`/jobs/${text.toLowerCase()}`));
    else go({ key: text, group: String(form.get('group') ?? '').trim(), payload });
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
        <label>
          Group
          {/* Keyed by the group, so it shows what the URL says after any navigation. */}
          <input key={filter.group} name="group" type="search" defaultValue={filter.group} placeholder="customer-42" maxLength={128} />
        </label>
        <label className="grow">
          Job id or idempotency key
          {/* Keyed by the searched key, so it shows what the URL says after any navigation. */}
          <input key={filter.key} name="search" type="search" defaultValue={filter.key} placeholder="01936f0e-… or welcome-mail-42" />
        </label>
        <label className="grow">
          Payload contains (JSON)
          {/* Keyed by the searched payload, so it shows what the URL says after any navigation. */}
          <input
            key={filter.payload} name="payload" type="search" defaultValue={filter.payload} placeholder='{"userId":42}' maxLength={4096}
            aria-invalid={payloadProblem ? true : undefined} aria-describedby={payloadProblem ? 'payload-problem' : undefined} className="mono"
          />
        </label>
        <button type="submit" className="primary">
          Search
        </button>
        <button type="button" onClick={() => list.reload()}>
          Refresh
        </button>
      </form>
      {payloadProblem && (
        <Notice kind="error">
          <span id="payload-problem">{payloadProblem}</span>
        </Notice>
      )}

      <BulkActions actions={BULK_ACTIONS} selection={selection} matching={matching} done={() => list.reload()} />
      {note && <Notice kind="success">{note}</Notice>}
      {list.error && <Notice kind="error">{list.error}</Notice>}
      <JobTable
        selection={selection}
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
