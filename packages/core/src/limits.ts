/** Limits on what a submission may contain, shared by the API schemas and the library. */

/** Queue and job type names. */
export const QUEUE_NAME_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
/** The same, as a JSON-schema pattern. */
export const NAME_PATTERN_SOURCE = '^[A-Za-z0-9_.:-]{1,64}$';
/**
 * A job's fair group (a tenant, a customer): letters, digits and `_ . : @ / + = -`, so that it can
 * stand in a Redis member and a URL as it is.
 */
export const GROUP_PATTERN = /^[A-Za-z0-9_.:@/+=-]{1,128}$/;
/** The same, as a JSON-schema pattern. */
export const GROUP_PATTERN_SOURCE = '^[A-Za-z0-9_.:@/+=-]{1,128}$';
/** Longest idempotency key. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;
/** Attempts a job may be given. */
export const MIN_ATTEMPTS = 1;
export const MAX_ATTEMPTS = 100;
/** Longest delay: one year. */
export const MAX_DELAY_MS = 365 * 24 * 3_600_000;
/** Priority range; higher runs first where priorities apply. */
export const MIN_PRIORITY = -1000;
export const MAX_PRIORITY = 1000;
/** Deepest nesting of objects and arrays in a payload or result, unless PAYLOAD_MAX_DEPTH says otherwise. */
export const DEFAULT_PAYLOAD_MAX_DEPTH = 256;
/** Most jobs in one bulk submission. */
export const MAX_BULK_JOBS = 1000;
/**
 * Largest payload or result, in bytes of JSON, that job listings carry whole; a bigger one is listed
 * as null with its size, and read whole from the job itself.
 */
export const LIST_VALUE_MAX_BYTES = 16 * 1024;
/** Bytes of JSON past which a listing page stops early (holding at least one job), its cursor where it stopped. */
export const LIST_PAGE_MAX_BYTES = 1024 * 1024;

/** Longest `payload` filter of a job listing, in characters of JSON: a containment query, not a document. */
export const PAYLOAD_FILTER_MAX_LENGTH = 4096;
/** Deepest nesting of a `payload` filter's objects and arrays. */
export const PAYLOAD_FILTER_MAX_DEPTH = 16;
