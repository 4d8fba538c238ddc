import { defineJobType } from '@sluice/core';
import { Type } from 'typebox';

const HOUR_MS = 3_600_000;

/** Sends one email through SMTP_URL (logged, not sent, when SMTP_URL is unset). */
export const email = defineJobType({
  name: 'email',
  description: 'Sends an email through the SMTP server at SMTP_URL.',
  payload: Type.Object(
    {
      to: Type.String({ format: 'email', maxLength: 320 }),
      subject: Type.String({ minLength: 1, maxLength: 998 }),
      text: Type.Optional(Type.String({ maxLength: 1_000_000 })),
      html: Type.Optional(Type.String({ maxLength: 1_000_000 })),
    },
    { additionalProperties: false },
  ),
  retry: { maxAttempts: 5 },
  timeoutMs: 30_000,
});

/**
 * Headers a webhook job may not set: those that frame the request (a job setting them could desync
 * the connection) and those that say who sends it. Sluice sets them itself.
 */
const RESERVED_HEADERS = ['content-length', 'transfer-encoding', 'host', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect'];
const RESERVED_HEADER_PREFIXES = ['proxy-', 'x-sluice-'];

/** Whether a webhook job may not set header `name` (see RESERVED_HEADERS). */
export function isReservedHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return RESERVED_HEADERS.includes(lower) || RESERVED_HEADER_PREFIXES.some((prefix) => lower.startsWith(prefix));
}

/** A header name (letters and dashes) as a pattern matching it in any letter case: JSON schema patterns take no flags. */
function anyCase(name: string): string {
  return [...name].map((char) => (/[a-z]/.test(char) ? `[${char}${char.toUpperCase()}]` : char)).join('');
}

/** A header name a webhook job may set: a valid token, and not reserved. */
const HEADER_NAME_PATTERN =
  `^(?!(?:${RESERVED_HEADERS.map(anyCase).join('|')})$)(?!${RESERVED_HEADER_PREFIXES.map(anyCase).join('|')})[!#$%&'*+.^_\`|~0-9A-Za-z-]+$`;

/** Calls an HTTP endpoint; any answer but 2xx fails the attempt. */
export const webhook = defineJobType({
  name: 'webhook',
  description: 'Sends an HTTP request; a non-2xx answer fails the attempt.',
  payload: Type.Object(
    {
      url: Type.String({ format: 'uri', pattern: '^https?://', maxLength: 2048 }),
      method: Type.Optional(Type.Union([Type.Literal('GET'), Type.Literal('POST'), Type.Literal('PUT'), Type.Literal('PATCH'), Type.Literal('DELETE')])),
      headers: Type.Optional(
        Type.Record(Type.String({ pattern: HEADER_NAME_PATTERN, maxLength: 256 }), Type.String({ maxLength: 8192 }), {
          additionalProperties: false,
          description: `Extra request headers. Not allowed: ${RESERVED_HEADERS.join(', ')}, and names starting with ${RESERVED_HEADER_PREFIXES.join(' or ')}.`,
        }),
      ),
      body: Type.Optional(Type.Unknown()),
    },
    { additionalProperties: false },
  ),
  retry: { maxAttempts: 5 },
  timeoutMs: 30_000,
});

/** Does nothing; for benchmarks. */
export const noop = defineJobType({
  name: 'noop',
  description: 'Does nothing; for benchmarks.',
  payload: Type.Object({}, { additionalProperties: true }),
});

/** Waits `ms` milliseconds (at most 1 h); for benchmarks and shutdown drills. */
export const sleep = defineJobType({
  name: 'sleep',
  description: 'Waits `ms` milliseconds (at most one hour).',
  payload: Type.Object({ ms: Type.Integer({ minimum: 0, maximum: HOUR_MS }) }, { additionalProperties: false }),
  timeoutMs: HOUR_MS + 60_000,
});

/** Fails on purpose, so a person can watch retries and the dead-letter stream. */
export const fail = defineJobType({
  name: 'fail',
  description: 'Fails its first `times` attempts (every attempt when omitted); `permanent: true` fails permanently.',
  payload: Type.Object(
    {
      times: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
      permanent: Type.Optional(Type.Boolean()),
      message: Type.Optional(Type.String({ maxLength: 1000 })),
    },
    { additionalProperties: false },
  ),
  retry: { maxAttempts: 3, baseDelayMs: 500 },
});

/** Every built-in type. */
export const builtinJobTypes = [email, webhook, noop, sleep, fail];
