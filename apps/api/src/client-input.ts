import { assertStorable, jsonDepthExceeds, PAYLOAD_FILTER_MAX_DEPTH } from '@sluice/core';
import type { FastifyRequest } from 'fastify';

/** An error the error handler answers with 400 VALIDATION_ERROR and `message`, like a schema failure. */
export function invalidInput(message: string): Error {
  return Object.assign(new Error(message), { statusCode: 400, code: 'VALIDATION_ERROR' });
}

const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A job id as Sluice writes it: 36 characters, lowercase. Redis keys are case-sensitive while
 * PostgreSQL's uuid type is not, so an uppercase id would find a job in one and miss it in the other.
 * Other spellings PostgreSQL or Ajv accept (`urn:uuid:`, braces, no hyphens) are refused.
 */
export function canonicalJobId(text: string, field = 'id'): string {
  if (!JOB_ID.test(text)) {
    throw invalidInput(`${field} must be a job id: a UUID of 36 characters such as 01936f0e-7d2c-7a4e-9f1b-2b8e5f0c1a77, with no urn:uuid: prefix or braces`);
  }
  return text.toLowerCase();
}

/** preValidation hook of the routes with an `:id`: refuses a malformed id and lowercases the rest. */
export async function canonicalIdParam(request: FastifyRequest): Promise<void> {
  const params = request.params as { id?: unknown };
  if (typeof params.id === 'string') params.id = canonicalJobId(params.id);
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;
/** Years 1 to 9999 (UTC): what both PostgreSQL and `Date.toISOString` write as four digits. */
const EARLIEST_DATE_MS = Date.parse('0001-01-01T00:00:00Z');
const LATEST_DATE_MS = Date.parse('9999-12-31T23:59:59.999Z');

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Whether `ms` is an instant PostgreSQL can compare with and a cursor can hold. */
export function inDateRange(ms: number): boolean {
  return ms >= EARLIEST_DATE_MS && ms <= LATEST_DATE_MS;
}

/**
 * An ISO-8601 date-time with a time zone, from a query parameter `name`. JavaScript cannot represent
 * a leap second (23:59:60) and rolls 30 February over into March; both, and instants outside years
 * 1–9999, are refused with a 400 naming the parameter instead of reaching PostgreSQL.
 */
export function queryDate(name: string, text: string): Date {
  const parts = DATE_TIME.exec(text);
  if (!parts) throw invalidInput(`${name} must be an ISO-8601 date-time with a time zone, such as 2026-11-01T00:00:00Z`);
  const [year, month, day, hour, minute, second] = parts.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 59) {
    throw invalidInput(`${name} is not a date-time that exists: ${second === 60 ? 'leap seconds (:60) are not accepted' : 'check its month, day and time'}`);
  }
  const ms = Date.parse(text);
  if (!inDateRange(ms)) throw invalidInput(`${name} must be between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z`);
  return new Date(ms);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The text of a header value as the client wrote it. Node reads header bytes as latin1, one
 * character per byte, so a key sent as UTF-8 arrives spelled differently from the same key in a JSON
 * body; decoding the bytes again as UTF-8 makes the two one key. Bytes that are not well-formed
 * UTF-8 (surrogates included) are refused rather than replaced, which would alias distinct keys.
 */
export function utf8Header(name: string, value: string): string {
  // Characters past U+00FF never come from the wire: only bytes do.
  let decoded: string | undefined;
  if (!/[\u0100-\uffff]/.test(value)) {
    try {
      decoded = utf8.decode(Buffer.from(value, 'latin1'));
    } catch {
      decoded = undefined;
    }
  }
  if (decoded === undefined) throw invalidInput(`The ${name} header is not well-formed UTF-8; send the text's UTF-8 bytes`);
  return decoded;
}

/**
 * The `payload` filter: JSON text that must be an object, as every job's payload is (an object never
 * contains an array or a single value, so those would match no job), nested at most PAYLOAD_FILTER_MAX_DEPTH levels, with numbers JavaScript can hold and
 * strings PostgreSQL can read.
 */
export function payloadFilter(text: string): object {
  let parsed: unknown;
  let infinite = false;
  try {
    parsed = JSON.parse(text, (_key, value: unknown) => {
      infinite ||= typeof value === 'number' && !Number.isFinite(value);
      return value;
    });
  } catch {
    throw invalidInput('payload must be JSON, such as {"userId":42}: check its quotes and brackets, and URL-encode it');
  }
  // JSON.parse reads 1e400 as Infinity, which the query's JSON would write as null: a search for something else.
  if (infinite) throw invalidInput('payload holds a number too large for a double (such as 1e400); search by a number within ±1.8e308');
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw invalidInput('payload must be a JSON object that the jobs\' payloads contain, such as {"userId":42} or {"tags":["vip"]}: a job\'s payload is one, so an array or a single value would match none');
  }
  if (jsonDepthExceeds(text, PAYLOAD_FILTER_MAX_DEPTH)) throw invalidInput(`payload is nested more than ${PAYLOAD_FILTER_MAX_DEPTH} levels deep; search by a shallower part of the payload`);
  try {
    assertStorable(parsed, 'payload');
  } catch (error) {
    // A search is not a job: its refusals carry the code of every other bad query parameter.
    throw invalidInput(error instanceof Error ? error.message : String(error));
  }
  return parsed;
}
