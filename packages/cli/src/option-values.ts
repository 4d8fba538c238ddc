import { UsageError } from './command-line.js';
import { messageOf } from './message-of.js';

const WHOLE_NUMBER = /^-?\d+$/;
const DECIMAL = /^\d+(\.\d+)?$/;

/** A whole number of at least `min`, from option `name`'s text; undefined when the option was not given. */
export function integerValue(name: string, text: string | undefined, min = Number.MIN_SAFE_INTEGER): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!WHOLE_NUMBER.test(text) || !Number.isSafeInteger(value) || value < min) {
    throw new UsageError(`--${name} takes ${describeInteger(min)}, got "${text}"`);
  }
  return value;
}

function describeInteger(min: number): string {
  return min === Number.MIN_SAFE_INTEGER ? 'a whole number' : `a whole number of ${min} or more`;
}

/** A number of seconds above zero (fractions allowed), from option `name`'s text. */
export function secondsValue(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!DECIMAL.test(text) || value <= 0) throw new UsageError(`--${name} takes a number of seconds above 0, got "${text}"`);
  return value;
}

/** A JSON object, from option `name`'s text. */
export function jsonObjectValue(name: string, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const reason = messageOf(error).replace(/\s+/g, ' ');
    throw new UsageError(`--${name} is not valid JSON (${reason})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError(`--${name} takes a JSON object such as '{"ms": 10}', got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`);
  }
  return value as Record<string, unknown>;
}

/** An ISO-8601 date-time, from option `name`'s text; passed on as written (the API is strict about its form). */
export function dateTimeValue(name: string, text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}T/.test(text) || Number.isNaN(Date.parse(text))) {
    throw new UsageError(`--${name} takes an ISO-8601 date-time such as 2026-12-01T09:00:00Z, got "${text}"`);
  }
  return text;
}
