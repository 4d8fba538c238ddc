/** Machine-readable codes of the errors Sluice raises. */
export type SluiceErrorCode =
  | 'INVALID_JOB'
  | 'UNKNOWN_JOB_TYPE'
  | 'TYPE_NOT_ON_QUEUE'
  | 'UNKNOWN_QUEUE'
  | 'JOB_NOT_FOUND'
  | 'INVALID_STATE'
  | 'REDIS_UNAVAILABLE'
  | 'REDIS_INFO_REFUSED'
  | 'NOT_REPLICATED'
  | 'POSTGRES_UNAVAILABLE'
  | 'SCHEMA_BEHIND'
  | 'INVALID_CONFIG'
  | 'INVALID_LIMITS'
  | 'INVALID_SCHEDULE'
  | 'SCHEDULE_NOT_FOUND'
  | 'SCHEDULE_EXISTS'
  | 'TOO_MANY_SCHEDULES';

/** Base class of every error Sluice raises on purpose. */
export class SluiceError extends Error {
  readonly code: SluiceErrorCode;
  readonly jobId: string | undefined;

  constructor(code: SluiceErrorCode, message: string, options: { cause?: unknown; jobId?: string } = {}) {
    super(message, { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.jobId = options.jobId;
  }
}

/** A submission that does not fit its type, the limits, or the registry. */
export class InvalidJobError extends SluiceError {
  constructor(message: string, code: 'INVALID_JOB' | 'UNKNOWN_JOB_TYPE' | 'TYPE_NOT_ON_QUEUE' = 'INVALID_JOB') {
    super(code, message);
  }
}

/** Flow limits (a queue's, set through the API) that are out of range. */
export class InvalidLimitsError extends SluiceError {
  constructor(problems: readonly string[]) {
    super('INVALID_LIMITS', problems.join('; '));
  }
}

/** No job has that id. */
export class JobNotFoundError extends SluiceError {
  constructor(jobId: string) {
    super('JOB_NOT_FOUND', `No job has the id ${jobId}.`, { jobId });
  }
}

/** No queue of that name is served here; `field` says where a request named it when that is not obvious (`jobs[2].queue`). */
export class QueueNotFoundError extends SluiceError {
  constructor(queue: string, known: readonly string[], field?: string) {
    super('UNKNOWN_QUEUE', `Queue "${queue}"${field ? ` (${field})` : ''} is not served here. Known queues: ${known.join(', ')}.`);
  }
}

/** The job is not in a state that allows what was asked, e.g. retrying a job that is not dead. */
export class JobStateConflictError extends SluiceError {
  readonly status: string;
  constructor(jobId: string, status: string, message: string) {
    super('INVALID_STATE', message, { jobId });
    this.status = status;
  }
}

/** A schedule definition or change that cannot be saved: its message names the field to fix. */
export class InvalidScheduleError extends SluiceError {
  constructor(message: string) {
    super('INVALID_SCHEDULE', message);
  }
}

/** No schedule has that name. */
export class ScheduleNotFoundError extends SluiceError {
  constructor(name: string) {
    super('SCHEDULE_NOT_FOUND', `No schedule is called "${name}".`);
  }
}

/** A schedule cannot be added: its name is taken (SCHEDULE_EXISTS), or the most schedules there may be exist (TOO_MANY_SCHEDULES). */
export class ScheduleConflictError extends SluiceError {
  constructor(code: 'SCHEDULE_EXISTS' | 'TOO_MANY_SCHEDULES', message: string) {
    super(code, message);
  }
}

/** Redis did not answer, or refused the command because it is disconnected. */
export class RedisUnavailableError extends SluiceError {
  constructor(cause: unknown) {
    super('REDIS_UNAVAILABLE', `Redis is unavailable: ${messageOf(cause)}`, { cause });
  }
}

/**
 * Redis's ACL refuses INFO to the user Sluice connects as (`-@dangerous` does): only GET /system needs
 * it, for Redis's figures; jobs run without it.
 */
export class RedisInfoRefusedError extends SluiceError {
  constructor(cause: unknown) {
    super('REDIS_INFO_REFUSED', 'Redis refused INFO to the user this API connects as (its ACL denies it, as -@dangerous does): grant it with ACL SETUSER <user> +info to see Redis\'s figures here.', { cause });
  }
}

/**
 * Redis took a submission, but fewer replicas than REDIS_WAIT_REPLICAS confirmed it in time: a
 * failover now could lose it. The jobs exist on the master; a client that submits again should send
 * the same idempotency key, so that it does not add them twice.
 */
export class NotReplicatedError extends SluiceError {
  constructor(confirmed: number, wanted: number, timeoutMs: number) {
    super('NOT_REPLICATED',
      `Redis took the submission but only ${confirmed} of ${wanted} replicas confirmed it within ${timeoutMs} ms (REDIS_WAIT_REPLICAS), ` +
        'so a failover could lose it; submit again with the same Idempotency-Key (and partitionKey) to be sure it is kept without adding it twice');
  }
}

/** PostgreSQL did not answer. */
export class PostgresUnavailableError extends SluiceError {
  constructor(cause: unknown) {
    super('POSTGRES_UNAVAILABLE', `PostgreSQL is unavailable: ${messageOf(cause)}`, { cause });
  }
}

/** The database has not been migrated to the schema this code expects. */
export class SchemaBehindError extends SluiceError {
  constructor(message: string) {
    super('SCHEMA_BEHIND', message);
  }
}

/** The environment describes a configuration Sluice cannot run with. */
export class InvalidConfigError extends SluiceError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('INVALID_CONFIG', `Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

/**
 * Thrown by a handler to say that retrying cannot help: the job goes straight to the dead-letter stream.
 */
export class PermanentJobError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentJobError';
  }
}

/**
 * Thrown by a handler to run the job again after `delayMs` (0 to a year) without counting the attempt
 * as failed: a service it calls said "slow down", say. The job waits as `scheduled`, its attempts as
 * they were; a job postponed MAX_POSTPONEMENTS times fails its attempt instead, so none loops forever.
 */
export class RetryAfterError extends Error {
  constructor(readonly delayMs: number, message = `postponed by its handler for ${delayMs} ms`) {
    super(message);
    this.name = 'RetryAfterError';
  }
}

/** The message of anything thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
