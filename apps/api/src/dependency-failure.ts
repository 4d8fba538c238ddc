/**
 * What a client may learn about why Redis or PostgreSQL did not answer: a few words that name no
 * host, port or address. The full error goes to the log, under the request's id.
 */
const WORDS_BY_CODE: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  ETIMEDOUT: 'no answer in time',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name not found',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  // PostgreSQL's SQLSTATEs for a refused login, a missing database, a server starting or stopping, no free connection.
  '28P01': 'authentication failed',
  '28000': 'authentication failed',
  '3D000': 'database does not exist',
  '57P01': 'server shutting down',
  '57P03': 'server starting up or shutting down',
  '53300': 'too many connections',
};

/** Sluice's own timeout sentences ("no answer within 1500 ms"), which name nothing. */
const OWN_TIMEOUT = /^no (?:answer|connection) within \d+ ms$/;

/** ioredis's words for a connection that is down or not yet up. */
const NOT_CONNECTED = /Connection is closed|Stream isn't writeable|enableOfflineQueue|Connection timeout|ended/i;

export function describeDependencyFailure(error: unknown): string {
  let cause = error;
  for (let depth = 0; cause instanceof Error && depth < 5; depth += 1) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && Object.hasOwn(WORDS_BY_CODE, code)) return WORDS_BY_CODE[code] as string;
    if (OWN_TIMEOUT.test(cause.message)) return cause.message;
    if (/timed? ?out/i.test(cause.message)) return 'no answer in time';
    if (NOT_CONNECTED.test(cause.message)) return 'not connected';
    cause = cause.cause;
  }
  return 'unavailable';
}
