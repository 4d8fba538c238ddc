import type { FastifyInstance } from 'fastify';
import { sendError } from './errors.js';

/** Methods that change nothing, which any page may send (it cannot read the answer without CORS). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** What a page on an allowed origin may send: the API's methods and the headers its clients set. */
const PREFLIGHT_HEADERS = {
  'access-control-allow-methods': 'GET, HEAD, POST, PUT, PATCH, DELETE',
  'access-control-allow-headers': 'authorization, content-type, idempotency-key',
  'access-control-max-age': '600',
};

/** Whether `origin` (an Origin header) is the page this API itself served: same host and port as the request's Host. */
function isOwnOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined || !URL.canParse(origin)) return false;
  const page = new URL(origin);
  const served = `${page.protocol}//${host}`;
  return URL.canParse(served) && new URL(served).host === page.host;
}

/**
 * Refuses state-changing requests (every method but GET, HEAD and OPTIONS) that a browser sends on
 * behalf of another site, with 403: without it, with no API_KEYS, any page a user visits could submit
 * jobs or pause queues here. A browser says where a request comes from in `Sec-Fetch-Site` and
 * `Origin`; requests that carry neither (curl, servers) are not from a page and pass. Pages on
 * ALLOWED_ORIGINS pass, and get CORS answers so that they can read the API too.
 */
export function registerCrossOriginCheck(app: FastifyInstance, allowedOrigins: readonly string[]): void {
  const allowed = new Set(allowedOrigins);
  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (allowed.size > 0) void reply.header('vary', 'Origin');
    if (origin !== undefined && allowed.has(origin)) {
      void reply.header('access-control-allow-origin', origin).header('access-control-expose-headers', 'retry-after, x-request-id');
      if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined) return reply.code(204).headers(PREFLIGHT_HEADERS).send();
      return;
    }
    if (SAFE_METHODS.has(request.method)) return;
    const site = request.headers['sec-fetch-site'];
    const fromAnotherSite = site === 'cross-site' || site === 'same-site' || (origin !== undefined && !isOwnOrigin(origin, request.headers.host));
    if (!fromAnotherSite) return;
    return sendError(
      reply,
      403,
      'CROSS_ORIGIN_REFUSED',
      `This API does not take state-changing requests from pages of other sites (this one came from ${origin === undefined ? 'another site' : JSON.stringify(origin.slice(0, 200))}). ` +
        'If that page is yours, add its origin to ALLOWED_ORIGINS.',
    );
  });
}
