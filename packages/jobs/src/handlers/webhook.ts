import type { JobHandler, PayloadOf } from '@sluice/core';
import type { webhook } from '../definitions';

/** Most bytes of a response body kept in the job's result. */
const MAX_BODY_PREVIEW = 2048;

/** Calls the URL; any status but 2xx fails the attempt with the status in the error. */
export function webhookHandler(): JobHandler<PayloadOf<typeof webhook>> {
  return async ({ id, attempt, payload, signal }) => {
    const method = payload.method ?? 'POST';
    const hasBody = payload.body !== undefined && method !== 'GET';
    const response = await fetch(payload.url, {
      method,
      headers: {
        ...(hasBody && { 'content-type': 'application/json' }),
        'user-agent': 'sluice-webhook',
        'x-sluice-job-id': id,
        'x-sluice-attempt': String(attempt),
        ...payload.headers,
      },
      body: hasBody ? JSON.stringify(payload.body) : undefined,
      signal,
      redirect: 'manual',
    });
    const text = await response.text();
    if (!response.ok) {
      throw new Error(`webhook ${method} ${payload.url} answered ${response.status} ${response.statusText}`.trim());
    }
    return { status: response.status, body: text.slice(0, MAX_BODY_PREVIEW) };
  };
}
