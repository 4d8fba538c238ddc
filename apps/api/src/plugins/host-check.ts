import { isIP } from 'node:net';
import { canonicalHostName, isLoopbackHost, type ApiConfig } from '@sluice/core';
import type { FastifyInstance } from 'fastify';
import { sendError } from './errors.js';

/** A Host header's or an ALLOWED_HOSTS entry's parts: `name` canonical, `port` as written. */
interface HostParts {
  name: string;
  port: string | undefined;
}

const HOST_HEADER = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?$/;

function hostParts(value: string): HostParts | undefined {
  const match = HOST_HEADER.exec(value);
  if (!match) return undefined;
  return { name: canonicalHostName(match[1] as string), port: match[2] };
}

/**
 * Routes load balancers and orchestrators probe, often by an address or a name of their own: they
 * answer whatever the Host, and hold nothing a rebinding page could use.
 */
const PROBES = new Set(['/health', '/health/ready']);

/**
 * Refuses requests whose Host header names a host this API does not know itself by, with 421. A
 * page that rebinds its own DNS name to this API's address is then still refused: the browser sends
 * the page's name. Always accepted: loopback names; when bound beyond loopback, IP addresses too (a
 * page can rebind a name, never an address); and ALLOWED_HOSTS, each with any port or the one given.
 */
export function registerHostCheck(app: FastifyInstance, api: Pick<ApiConfig, 'host' | 'allowedHosts'>): void {
  const listed = api.allowedHosts.map(hostParts).filter((parts) => parts !== undefined);
  const beyondLoopback = !isLoopbackHost(api.host);
  const accepts = (host: string): boolean => {
    const parts = hostParts(host);
    if (!parts) return false;
    if (isLoopbackHost(parts.name) || (beyondLoopback && isIP(parts.name) !== 0)) return true;
    return listed.some((entry) => entry.name === parts.name && (entry.port === undefined || entry.port === parts.port));
  };

  app.addHook('onRequest', async (request, reply) => {
    // Every browser sends Host; only a bare HTTP/1.0 client may not, and it is no rebinding page.
    const host = request.headers.host;
    if (host === undefined || PROBES.has(request.routeOptions.url ?? '') || accepts(host)) return;
    return sendError(
      reply,
      421,
      'UNKNOWN_HOST',
      `This API does not answer to the host named in the Host header (${JSON.stringify(host.slice(0, 100))}). ` +
        'If that is its address, add the name to ALLOWED_HOSTS.',
    );
  });
}
