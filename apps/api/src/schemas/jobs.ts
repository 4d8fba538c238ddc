import {
  GROUP_PATTERN_SOURCE, JOB_EVENT_STATUSES, JOB_STATES, LIST_PAGE_MAX_BYTES, LIST_VALUE_MAX_BYTES, MAX_ATTEMPTS, MAX_BULK_JOBS, MAX_DELAY_MS, MAX_IDEMPOTENCY_KEY_LENGTH,
  MAX_PRIORITY, MIN_ATTEMPTS, MIN_PRIORITY, NAME_PATTERN_SOURCE, PAYLOAD_FILTER_MAX_DEPTH, PAYLOAD_FILTER_MAX_LENGTH, PRIORITY_BANDS, WAITING_REASONS, type JobEventStatus, type JobState, type WaitingReason,
} from '@sluice/core';
import { Type, type Static } from 'typebox';

const JobStatus = Type.Unsafe<JobState>({ type: 'string', enum: [...JOB_STATES] });
const JobEventStatus = Type.Unsafe<JobEventStatus>({ type: 'string', enum: [...JOB_EVENT_STATUSES] });
const Name = (description: string) => Type.String({ pattern: NAME_PATTERN_SOURCE, description });
const Timestamp = Type.String({ format: 'date-time' });
/** A `payload` filter, in a query or a body: JSON text, parsed by the route (payloadFilter). */
export const PayloadFilter = Type.String({
  minLength: 2,
  maxLength: PAYLOAD_FILTER_MAX_LENGTH,
  description: `Only jobs whose payload contains this JSON object (PostgreSQL's @>), such as {"userId":42}: objects match by the keys given, nested too, arrays within by the elements given, and 42 and "42" differ. At most ${PAYLOAD_FILTER_MAX_LENGTH} characters, nested at most ${PAYLOAD_FILTER_MAX_DEPTH} levels.`,
});

/** A job's fair group, in a body or a query. */
export const Group = (description: string) => Type.String({ pattern: GROUP_PATTERN_SOURCE, description });

/** One submission, the body of POST /jobs and an item of POST /jobs/bulk. */
export const JobSubmission = Type.Object(
  {
    type: Name('Registered job type, e.g. `email`.'),
    payload: Type.Object({}, { additionalProperties: true, description: "The job's input; checked against its type's schema." }),
    queue: Type.Optional(Name('Queue to add the job to. Default: the first of QUEUES.')),
    delay: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_DELAY_MS, description: 'Milliseconds to wait before the job may run.' })),
    runAt: Type.Optional(Type.String({ format: 'date-time', description: 'When the job may run (ISO-8601); wins over delay.' })),
    priority: Type.Optional(Type.Integer({
      minimum: MIN_PRIORITY, maximum: MAX_PRIORITY,
      description: `Default 0. Higher starts first, by band: ${PRIORITY_BANDS.map(({ name, min, max }) => `${name} ${min === max ? min : `${min} to ${max}`}`).join(', ')}. `
        + 'Workers read the bands highest first (PRIORITY_POLICY strict) or by weighted draw (weighted); within a band, jobs start in the order they became ready.',
    })),
    maxAttempts: Type.Optional(Type.Integer({ minimum: MIN_ATTEMPTS, maximum: MAX_ATTEMPTS })),
    idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_IDEMPOTENCY_KEY_LENGTH })),
    partitionKey: Type.Optional(Type.String({
      minLength: 1, maxLength: MAX_IDEMPOTENCY_KEY_LENGTH,
      description: 'On a queue of several partitions (QUEUE_PARTITIONS), jobs with the same partitionKey go to the same partition, and so are taken in the order they were added. Default: the idempotencyKey; without either, jobs are spread evenly. An idempotencyKey deduplicates within its partition, so a repeat must carry the same partitionKey.',
    })),
    group: Type.Optional(Group(
      "The job's fair group (a tenant, a customer): the queue takes its groups' jobs in turn, so one group's flood cannot starve the others, "
        + "and runs at most the queue's groupConcurrency of one group at once. A group's jobs share one partition; a partitionKey other than the group is refused.",
    )),
  },
  { additionalProperties: false },
);
export type JobSubmission = Static<typeof JobSubmission>;

/** Body of POST /jobs/bulk. */
export const BulkSubmission = Type.Object(
  { jobs: Type.Array(JobSubmission, { minItems: 1, maxItems: MAX_BULK_JOBS }) },
  { additionalProperties: false },
);

/** What a submission returns. */
export const AddedJob = Type.Object({
  id: Type.String({ format: 'uuid' }),
  queue: Type.String(),
  type: Type.String(),
  status: JobStatus,
  duplicate: Type.Boolean({ description: 'True when the idempotency key named an earlier job; nothing was added.' }),
});

export const BulkAdded = Type.Object({ jobs: Type.Array(AddedJob) });

/** Path parameter of the routes about one job. */
export const JobIdParams = Type.Object({
  id: Type.String({ format: 'uuid', description: 'The job id: a UUID of 36 characters, in either case (ids are lowercase; `urn:uuid:` and braces are refused).' }),
});

/** W3C Trace Context request headers: a submission's jobs join the caller's trace. Malformed, they are ignored, as the standard says. */
const traceHeaderFields = {
  traceparent: Type.Optional(Type.String({
    description: "W3C Trace Context traceparent: the submission's jobs continue this trace (see README, Tracing). A malformed one is ignored.",
  })),
  tracestate: Type.Optional(Type.String({ description: 'W3C Trace Context tracestate, stored with the job when at most 512 characters.' })),
};

/** Headers of POST /jobs/bulk. */
export const TraceHeaders = Type.Object(traceHeaderFields);

/** Headers of POST /jobs: the trace's, and an optional alternative to `idempotencyKey`. */
export const IdempotencyHeaders = Type.Object({
  ...traceHeaderFields,
  'idempotency-key': Type.Optional(Type.String({
    minLength: 1,
    maxLength: MAX_IDEMPOTENCY_KEY_LENGTH,
    description: 'The idempotencyKey, as UTF-8 bytes (refused when not well-formed UTF-8). With idempotencyKey in the body too, the two must be equal.',
  })),
});

const JobEvent = Type.Object({
  status: JobEventStatus,
  attempt: Type.Integer(),
  at: Timestamp,
  worker: Type.Optional(Type.String()),
  error: Type.Optional(Type.String()),
  nextAt: Type.Optional(Timestamp),
  reason: Type.Optional(Type.String()),
});

/** Why a job that has not started waits; the reasons are a closed set, which may grow. */
const WaitingView = Type.Object({
  reason: Type.Unsafe<WaitingReason>({
    type: 'string',
    enum: [...WAITING_REASONS],
    description: 'scheduled: due at `until`; retry_backoff: its next attempt is due at `until`; paused: its queue is paused; ' +
      'unserved: no live worker serves its type; group_turn: its fair group\'s turn has not come; group_cap: its group runs as many jobs as the queue\'s groupConcurrency allows; ' +
      'in_line: ready, behind `depth` pending jobs of its partition.',
  }),
  message: Type.String({ description: 'The reason in a sentence, for a person.' }),
  until: Type.Optional(Type.String({ format: 'date-time', description: 'When the wait ends, for a due time.' })),
  depth: Type.Optional(Type.Integer({ minimum: 0, description: 'For in_line: jobs pending in its partition, itself included.' })),
});

/** A job with its history, oldest event first. */
export const JobView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  queue: Type.String(),
  type: Type.String(),
  payload: Type.Object({}, { additionalProperties: true }),
  status: JobStatus,
  attempts: Type.Integer(),
  maxAttempts: Type.Integer(),
  priority: Type.Integer(),
  runAt: Timestamp,
  createdAt: Timestamp,
  updatedAt: Timestamp,
  finishedAt: Type.Union([Timestamp, Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  idempotencyKey: Type.Union([Type.String(), Type.Null()], { description: 'The key the job was submitted with, if any.' }),
  result: Type.Unknown(),
  progress: Type.Unknown(),
  schedule: Type.Union([Type.Object({ name: Type.String(), tick: Timestamp }), Type.Null()], {
    description: 'The schedule whose tick made the job, and that tick (a manual run\'s: when it was asked for); null for a job submitted otherwise.',
  }),
  group: Type.Union([Type.String(), Type.Null()], { description: "The job's fair group; null for a job submitted without one." }),
  traceId: Type.Union([Type.String({ pattern: '^[0-9a-f]{32}$' }), Type.Null()], {
    description: 'The OpenTelemetry trace (W3C trace id) its attempts belong to: the submitting request\'s or code\'s; null for a job added outside any trace.',
  }),
  traceparent: Type.Union([Type.String(), Type.Null()], { description: "The W3C traceparent stored with the job: its send span, the parent of its attempts' spans." }),
  history: Type.Array(JobEvent),
  waiting: Type.Union([WaitingView, Type.Null()], { description: 'Why the job is not running yet; null when it is not waiting (processing or finished).' }),
  outbox: Type.Optional(Type.Literal(true, {
    description: 'Present on a job enqueued in a PostgreSQL transaction (enqueueInTransaction) that the outbox relay has not added to Redis yet; its history starts once it has.',
  })),
});

const errorFields = { error: Type.Object({ code: Type.String(), message: Type.String(), requestId: Type.Optional(Type.String()) }) };

/** Every error body: `{ error: { code, message } }`; a 5xx also names the request id its log lines carry. */
export const ErrorBody = Type.Object(errorFields);

/** The 404 of every route that takes a queue name, in its body, path or query: one answer for a queue this API does not serve. */
export const UnknownQueueBody = Type.Object(errorFields, {
  description: '`UNKNOWN_QUEUE`: a queue this API does not serve; the message names the queues it does, e.g. `Queue "emails" is not served here. Known queues: default.`',
});

/** The 404 of the routes that take a job id. */
export const UnknownJobBody = Type.Object(errorFields, { description: '`JOB_NOT_FOUND`: no job has that id.' });

/** Query of GET /jobs. */
export const JobListQuery = Type.Object(
  {
    status: Type.Optional(JobStatus),
    type: Type.Optional(Name('Only jobs of this type.')),
    queue: Type.Optional(Name('Only jobs of this queue.')),
    idempotencyKey: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_IDEMPOTENCY_KEY_LENGTH, description: 'Only jobs submitted with this idempotency key.' })),
    group: Type.Optional(Group('Only jobs of this fair group.')),
    payload: Type.Optional(PayloadFilter),
    createdAfter: Type.Optional(Type.String({ format: 'date-time', description: 'Only jobs created at or after this time.' })),
    createdBefore: Type.Optional(Type.String({ format: 'date-time', description: 'Only jobs created before this time.' })),
    limit: Type.Optional(Type.String({ pattern: '^(100|[1-9][0-9]?)$', description: 'Jobs per page, 1 to 100. Default 20.' })),
    cursor: Type.Optional(Type.String({ maxLength: 200, description: 'The nextCursor of the previous page.' })),
  },
  { additionalProperties: false },
);

/** A job as lists carry it: without its history, and without a payload or result too large to list. */
const ListedJobView = Type.Object({
  ...Type.Omit(JobView, ['history', 'payload', 'waiting']).properties,
  payload: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()], {
    description: `The payload; null when its JSON is over ${LIST_VALUE_MAX_BYTES} bytes (payloadTruncated): GET /jobs/:id has it whole.`,
  }),
  payloadBytes: Type.Integer({ description: 'Size of the payload\'s JSON text in bytes.' }),
  payloadTruncated: Type.Boolean({ description: 'True when the payload is left out of this list for its size.' }),
  resultBytes: Type.Integer({ description: 'Size of the result\'s JSON text in bytes; 0 without a result.' }),
  resultTruncated: Type.Boolean({ description: `True when the result, over ${LIST_VALUE_MAX_BYTES} bytes of JSON, is left out of this list (null): GET /jobs/:id has it whole.` }),
});

const PAGE_BYTES_NOTE = `A page stops early, with a nextCursor, once it holds about ${LIST_PAGE_MAX_BYTES} bytes of jobs.`;

/** A page of GET /jobs: jobs without their history, newest first. */
export const JobListPage = Type.Object({
  jobs: Type.Array(ListedJobView, { description: PAGE_BYTES_NOTE }),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

/** Query of GET /jobs/dead. Query strings are text, so numbers are checked as digits and parsed. */
export const DeadJobsQuery = Type.Object(
  {
    queue: Type.Optional(Name('Only this queue.')),
    limit: Type.Optional(Type.String({ pattern: '^(100|[1-9][0-9]?)$', description: 'Jobs per page, 1 to 100. Default 20.' })),
    cursor: Type.Optional(Type.String({ maxLength: 64, description: 'The nextCursor of the previous page.' })),
  },
  { additionalProperties: false },
);

/** A dead job: the job as lists carry it, why it died and when. */
export const DeadJobView = Type.Object({
  ...ListedJobView.properties,
  reason: Type.String({ description: 'exhausted, permanent, poison or no-handler' }),
  deadAt: Timestamp,
});

export const DeadJobsPage = Type.Object({
  jobs: Type.Array(DeadJobView, { description: PAGE_BYTES_NOTE }),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});
