import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { PermanentJobError, type JobHandler, type PayloadOf } from '@sluice/core';
import type { webhook } from '../definitions';
import { OutboundPolicy, RefusedTargetError } from './outbound-policy';

/** Most bytes of a response body read; the rest is not waited for. */
const MAX_BODY_BYTES = 64 * 1024;
/** Most bytes of the body kept in the job's result. */
const MAX_BODY_PREVIEW = 2048;

/** Settings of the `webhook` handler. */
export interface WebhookOptions {
  allowedHosts: readonly string[];
  timeoutMs: number;
}

interface WebhookResponse {
  status: number;
  statusText: string;
  body: string;
}

/**
 * Sends the request. A 2xx completes the job; any other answer fails the attempt (redirects are
 * not followed: a 3xx fails too). A refused target fails the job permanently with the reason.
 */
export function webhookHandler(options: WebhookOptions): JobHandler<PayloadOf<typeof webhook>> {
  const policy = new OutboundPolicy(options.allowedHosts);
  return async ({ id, attempt, payload, signal }) => {
    const method = payload.method ?? 'POST';
    const url = new URL(payload.url);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const body = payload.body !== undefined && method !== 'GET' ? JSON.stringify(payload.body) : undefined;
    const headers: Record<string, string> = {
      'user-agent': 'sluice-webhook',
      'x-sluice-job-id': id,
      'x-sluice-attempt': String(attempt),
      ...(body !== undefined && { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }),
      ...payload.headers,
    };
    let response: WebhookResponse;
    try {
      // A literal address never goes through the lookup, so it is checked here.
      if (isIP(host)) policy.checkAddress(host, host);
      response = await send(url, { method, headers, body, signal, timeoutMs: options.timeoutMs, lookup: policy.lookupFor(host) });
    } catch (error) {
      if (error instanceof RefusedTargetError) throw new PermanentJobError(error.message);
      throw error;
    }
    if (response.status < 200 || response.status > 299) {
      const redirect = response.status >= 300 && response.status < 400 ? ' (redirects are not followed)' : '';
      throw new Error(`webhook ${method} ${payload.url} answered ${response.status} ${response.statusText}${redirect}`.replace(/\s+$/, ''));
    }
    return { status: response.status, body: response.body.slice(0, MAX_BODY_PREVIEW) };
  };
}

interface SendOptions {
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
  signal: AbortSignal;
  timeoutMs: number;
  lookup: ReturnType<OutboundPolicy['lookupFor']>;
}

function send(url: URL, options: SendOptions): Promise<WebhookResponse> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method, headers: options.headers, lookup: options.lookup, signal: options.signal, timeout: options.timeoutMs }, (res) => {
      readCapped(res).then((body) => resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', body }), reject);
    });
    req.on('timeout', () => req.destroy(new Error(`webhook ${options.method} ${url.href} took longer than ${options.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Reads at most MAX_BODY_BYTES of a response, then stops reading. */
function readCapped(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      if (size >= MAX_BODY_BYTES) return;
      chunks.push(chunk);
      size += chunk.length;
      if (size >= MAX_BODY_BYTES) {
        res.destroy();
        resolve(Buffer.concat(chunks).subarray(0, MAX_BODY_BYTES).toString());
      }
    });
    res.on('end', () => resolve(Buffer.concat(chunks).toString()));
    res.on('error', reject);
  });
}
