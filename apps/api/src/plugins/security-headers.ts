import type { FastifyInstance } from 'fastify';
import { DASHBOARD_PATH } from './dashboard.js';

/**
 * The dashboard loads its script, styles and data from this origin only and has nothing inline (the
 * build emits none; React sets styles through the DOM, which CSP allows).
 */
const DASHBOARD_POLICY = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Swagger UI: as strict, but its stylesheet and React inject inline styles and it draws icons as data: images. */
const DOCS_POLICY = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Everything else is data, never a document: nothing in it may load or run, whatever a browser makes of it. */
const DATA_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const under = (path: string, prefix: string): boolean => path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`);

function policyFor(path: string): string {
  if (under(path, DASHBOARD_PATH) || path === '/dashboard') return DASHBOARD_POLICY;
  if (under(path, '/docs')) return DOCS_POLICY;
  return DATA_POLICY;
}

/**
 * Headers on every answer that keep browsers from misusing it: a Content-Security-Policy, no
 * framing (clickjacking the pause button), no content sniffing (a JSON body read as HTML), no
 * Referer leaking job ids to other sites, and no embedding by other sites' pages.
 */
export function registerSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply) => {
    void reply.headers({
      'content-security-policy': policyFor(request.url.split('?')[0] as string),
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'cross-origin-resource-policy': 'same-origin',
    });
  });
}
