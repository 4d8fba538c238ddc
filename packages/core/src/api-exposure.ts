import { isIP } from 'node:net';
import type { ApiConfig } from './config.js';

/**
 * A host as a URL spells it: IP addresses in their canonical form (`127.1` → `127.0.0.1`,
 * `0:0::1` → `::1`), names in lowercase without a trailing dot. Accepts IPv6 with or without brackets.
 */
export function canonicalHostName(host: string): string {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  const spelled = isIP(bare) === 6 ? `[${bare}]` : bare;
  const name = URL.canParse(`http://${spelled}/`) ? new URL(`http://${spelled}/`).hostname : bare.toLowerCase();
  return name.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
}

/** Whether `host` (a HOST value, or the name in a URL or a Host header) reaches this machine's loopback interface only. */
export function isLoopbackHost(host: string): boolean {
  const name = canonicalHostName(host);
  if (name === 'localhost') return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  return name === '::1' || /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(name);
}

/**
 * Why the API must not start as configured, or undefined when it may: bound beyond loopback without
 * API keys, anyone who reaches it could submit jobs (webhooks included) and steer the queues, so that
 * takes an explicit ALLOW_OPEN_API.
 */
export function openApiRefusal(api: Pick<ApiConfig, 'host' | 'apiKeys' | 'allowOpenApi'>): string | undefined {
  if (api.apiKeys.length > 0 || api.allowOpenApi || isLoopbackHost(api.host)) return undefined;
  return (
    `HOST=${api.host} makes the API reachable from other machines, and API_KEYS is not set: anyone who reaches it could submit ` +
    'jobs and pause queues. Set API_KEYS (comma-separated keys of at least 16 characters), or ALLOW_OPEN_API=1 if something ' +
    'of your own (a private network, an authenticating proxy) guards it.'
  );
}
