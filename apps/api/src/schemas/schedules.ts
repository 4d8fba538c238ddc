import {
  GROUP_PATTERN_SOURCE, MAX_ATTEMPTS, MAX_CATCH_UP_TICKS, MAX_EVERY_MS, MAX_PRIORITY, MAX_SCHEDULE_PAYLOAD_BYTES, MAX_SCHEDULES, MIN_ATTEMPTS, MIN_EVERY_MS, MIN_PRIORITY,
  NAME_PATTERN_SOURCE, SCHEDULE_CATCH_UPS, SCHEDULE_GRACE_MS, SCHEDULE_OVERLAPS, SCHEDULE_RUNS_KEPT,
} from '@sluice/core';
import { Type } from 'typebox';

const Name = (description: string) => Type.String({ pattern: NAME_PATTERN_SOURCE, description });
const Timestamp = Type.String({ format: 'date-time' });

const cron = Type.String({
  minLength: 1,
  maxLength: 200,
  description: 'A cron of 5 fields (minute hour day-of-month month day-of-week) or 6 (a second first), e.g. `*/5 * * * *`, read by croner in `timezone`. Give exactly one of cron and everyMs.',
});
const everyMs = Type.Integer({
  minimum: MIN_EVERY_MS,
  maximum: MAX_EVERY_MS,
  description: 'Milliseconds between ticks, which fall on multiples of it since the epoch (60000: at every full minute). Give exactly one of cron and everyMs.',
});
const timezone = Type.String({
  minLength: 1,
  maxLength: 64,
  description: 'The IANA time zone the cron is read in, e.g. `Europe/Berlin`. Default `UTC`. A time that does not exist on the day clocks go forward runs an hour later in wall time (the instant it would have been); one that happens twice runs once, the first time. Not with everyMs.',
});
const overlap = Type.Unsafe<'allow' | 'skip'>({
  type: 'string',
  enum: [...SCHEDULE_OVERLAPS],
  description: '`allow` (default): every tick adds a job. `skip`: a tick is skipped (recorded as skipped) while the previous run\'s job is unfinished.',
});
const catchUp = Type.Unsafe<'none' | 'latest' | 'all'>({
  type: 'string',
  enum: [...SCHEDULE_CATCH_UPS],
  description: `What becomes of ticks missed while no scheduler ran (a tick is missed once it is over ${SCHEDULE_GRACE_MS / 1000} s late, or once the tick after it is due): \`none\` (default) runs none of them, \`latest\` runs the newest (unless a tick on time stands for it), \`all\` runs each, the newest ${MAX_CATCH_UP_TICKS} at most. Missed ticks not run are recorded as one missed run.`,
});
const paused = Type.Boolean({ description: 'While true, no tick runs (nor is missed); a resume starts from the next tick.' });

/** The job each tick adds: as POST /jobs takes it, less what a tick sets itself (idempotencyKey, partitionKey) and delays. */
export const ScheduleJob = Type.Object(
  {
    type: Name('A job type live workers serve (checked now, and at each tick).'),
    payload: Type.Object({}, { additionalProperties: true, description: `The job's input, checked against its type's schema; at most ${MAX_SCHEDULE_PAYLOAD_BYTES} bytes of JSON.` }),
    queue: Type.Optional(Name('Queue to add the jobs to. Default: the first of QUEUES.')),
    priority: Type.Optional(Type.Integer({ minimum: MIN_PRIORITY, maximum: MAX_PRIORITY })),
    maxAttempts: Type.Optional(Type.Integer({ minimum: MIN_ATTEMPTS, maximum: MAX_ATTEMPTS })),
    group: Type.Optional(Type.String({ pattern: GROUP_PATTERN_SOURCE, description: 'The fair group of the jobs the ticks add (see POST /jobs).' })),
  },
  { additionalProperties: false },
);

/** Body of POST /schedules. */
export const ScheduleCreation = Type.Object(
  {
    name: Name(`The schedule's name, unique. At most ${MAX_SCHEDULES} schedules exist at once.`),
    cron: Type.Optional(cron),
    everyMs: Type.Optional(everyMs),
    timezone: Type.Optional(timezone),
    job: ScheduleJob,
    overlap: Type.Optional(overlap),
    catchUp: Type.Optional(catchUp),
    paused: Type.Optional(paused),
  },
  { additionalProperties: false },
);

/** Body of PATCH /schedules/:name: the fields given replace the schedule's; cron and everyMs replace each other; job is replaced whole. */
export const ScheduleChange = Type.Object(
  {
    cron: Type.Optional(cron),
    everyMs: Type.Optional(everyMs),
    timezone: Type.Optional(timezone),
    job: Type.Optional(ScheduleJob),
    overlap: Type.Optional(overlap),
    catchUp: Type.Optional(catchUp),
    paused: Type.Optional(paused),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const ScheduleParams = Type.Object({ name: Name('The schedule\'s name.') });

export const ScheduleListQuery = Type.Object(
  {
    limit: Type.Optional(Type.String({ pattern: '^(100|[1-9][0-9]?)$', description: 'Schedules per page, 1 to 100. Default 50.' })),
    cursor: Type.Optional(Type.String({ pattern: NAME_PATTERN_SOURCE, description: 'The nextCursor of the previous page.' })),
  },
  { additionalProperties: false },
);

/** One run of a schedule. */
export const ScheduleRunView = Type.Object({
  tick: Type.String({ format: 'date-time', description: 'The tick; for a manual run, when it was asked for.' }),
  kind: Type.Unsafe<'tick' | 'manual'>({ type: 'string', enum: ['tick', 'manual'] }),
  status: Type.Unsafe<'created' | 'failed' | 'skipped' | 'missed'>({
    type: 'string',
    enum: ['created', 'failed', 'skipped', 'missed'],
    description: '`created`: the job `jobId` was added. `failed`: no job could be added as the schedule stands (`reason`), not retried. `skipped`: overlap skip, while the job `jobId` was unfinished. `missed`: ticks from `tick` to `lastTick` missed and not run (catchUp).',
  }),
  jobId: Type.Union([Type.String(), Type.Null()]),
  reason: Type.Union([Type.String(), Type.Null()]),
  lastTick: Type.Optional(Timestamp),
  missedCount: Type.Optional(Type.Union([Type.Integer(), Type.Null()], { description: 'How many ticks were missed; null when too many to count.' })),
  at: Type.String({ format: 'date-time', description: 'When the run was recorded.' }),
});

/** A schedule with its next ticks and newest runs. */
export const ScheduleView = Type.Object({
  name: Type.String(),
  cron: Type.Union([Type.String(), Type.Null()]),
  everyMs: Type.Union([Type.Integer(), Type.Null()]),
  timezone: Type.String(),
  job: Type.Object({
    type: Type.String(),
    payload: Type.Object({}, { additionalProperties: true }),
    queue: Type.String(),
    priority: Type.Integer(),
    maxAttempts: Type.Union([Type.Integer(), Type.Null()], { description: 'null: the type\'s own.' }),
    group: Type.Optional(Type.String({ description: 'The fair group of the jobs the ticks add; absent for none.' })),
  }),
  overlap: Type.String(),
  catchUp: Type.String(),
  paused: Type.Boolean(),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  revision: Type.Integer({ description: 'Bumped by every change.' }),
  nextRunAt: Type.Union([Timestamp, Type.Null()], { description: 'The tick due next (in the past while it waits for a scheduler); null while paused.' }),
  nextRuns: Type.Array(Timestamp, { description: 'The next five ticks from nextRunAt on.' }),
  lastRuns: Type.Array(ScheduleRunView, { description: `The newest runs, newest first: all ${SCHEDULE_RUNS_KEPT} kept in GET /schedules/:name, 5 in the list.` }),
  inFlight: Type.Integer({ description: 'Runs whose job is being added right now.' }),
});

export const SchedulePage = Type.Object({
  schedules: Type.Array(ScheduleView, { description: 'By name.' }),
  nextCursor: Type.Union([Type.String(), Type.Null()]),
});

export const TriggeredRun = Type.Object({ run: ScheduleRunView });
