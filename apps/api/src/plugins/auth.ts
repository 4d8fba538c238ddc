import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AuthFailureLimiter } from './auth-failures.js';
import { sendError } from './errors.js';

const digest = (key: string): Buffer => createHash('sha256').update(key).digest();

const under = (url: string, path: string): boolean => url === path || url.startsWith(`${path}/`) || url.startsWith(`${path}?`);

/**
 * Routes open without a key: the health checks load balancers call, and the dashboard's static files
 * (and the redirect to them), which hold no data; the dashboard asks for a key before any API call.
 */
const isOpenRoute = (url: string): boolean => under(url, '/health') || under(url, '/dashboard') || url === '/' || url.startsWith('/?');

/**
 * Checks `Authorization: Bearer <key>` against the configured keys: 401 without a key, 403 with a
 * wrong one. Keys are compared as SHA-256 digests in constant time, against every key every time, so
 * the answer's timing says nothing about how close a guess was; no key is ever logged. A client
 * address that offers `failuresPerMinute` wrong keys gets 429 for any key until its minute is over.
 */
export function registerAuth(app: FastifyInstance, apiKeys: readonly string[], failuresPerMinute: number): void {
  const digests = apiKeys.map(digest);
  const failures = new AuthFailureLimiter(failuresPerMinute);
  app.decorateRequest('apiKeyId', '');
  app.addHook('onRequest', async (request, reply) => {
    if (isOpenRoute(request.url)) return;
    const header = request.headers.authorization;
    const match = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) {
      void reply.header('www-authenticate', 'Bearer');
      return sendError(reply, 401, 'UNAUTHORIZED', 'Send your API key in the header Authorization: Bearer <key>.');
    }
    const waitSeconds = failures.retryAfterSeconds(request.ip);
    if (waitSeconds > 0) {
      void reply.header('retry-after', String(waitSeconds));
      return sendError(reply, 429, 'TOO_MANY_WRONG_KEYS', `Too many wrong API keys from this address (at most ${failures.max} a minute). Try again in ${waitSeconds} s.`);
    }
    const offered = digest(match[1] as string);
    let matched = -1;
    digests.forEach((candidate, index) => {
      if (timingSafeEqual(candidate, offered) && matched === -1) matched = index;
    });
    if (matched === -1) {
      failures.recordFailure(request.ip);
      return sendError(reply, 403, 'FORBIDDEN', 'That API key is not valid here.');
    }
    (request as FastifyRequest & { apiKeyId: string }).apiKeyId = `key-${matched + 1}`;
  });
}

/** What rate limiting counts a request against: its key when keys are in use, else its address. */
export function rateLimitIdentity(request: FastifyRequest): string {
  return (request as FastifyRequest & { apiKeyId?: string }).apiKeyId || request.ip;
}
