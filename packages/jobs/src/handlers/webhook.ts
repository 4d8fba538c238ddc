import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type Socket } from 'node:net';
import { PermanentJobError, type JobHandler, type PayloadOf } from '@sluice/core';
import { isReservedHeader, type webhook } from '../definitions.js';
import { InFlightLimit } from './in-flight-limit.js';
import { OutboundPolicy, RefusedTargetError } from './outbound-policy.js';
import { endWebhookSpan, startWebhookSpan } from './webhook-span.js';

/** Most bytes of a response body read; the rest is not waited for. */
const MAX_BODY_BYTES = 64 * 1024;
/** Most characters of the body kept in the job's result. */
const MAX_BODY_PREVIEW = 2048;

/** Settings of the `webhook` handler. */
export interface WebhookOptions {
  allowedHosts: readonly string[];
  /** Longest a request may take, from connecting to the last byte of the answer. */
  timeoutMs: number;
  /** Most requests in flight at once in this process. Default 16. */
  maxInFlight?: number;
  /** Methods a job may use. Default all the type allows. */
  methods?: readonly string[];
}

interface WebhookResponse {
  status: number;
  statusText: string;
  body: string;
}

/** What a webhook that got no valid answer records: the same words whatever happened on the wire, so failures do not map a network. */
class NoAnswerError extends Error {}

/**
 * Sends the request. A 2xx completes the job; any other answer fails the attempt (redirects are
 * not followed: a 3xx fails too). A refused target fails the job permanently with the reason.
 */
export function webhookHandler(options: WebhookOptions): JobHandler<PayloadOf<typeof webhook>> {
  const policy = new OutboundPolicy(options.allowedHosts);
  const inFlight = new InFlightLimit(options.maxInFlight ?? 16);
  return async ({ id, attempt, payload, signal }) => {
    const method = payload.method ?? 'POST';
    if (options.methods && !options.methods.includes(method)) {
      throw new PermanentJobError(`webhook method ${method} is not allowed here; WEBHOOK_METHODS allows ${options.methods.join(', ')}`);
    }
    const url = new URL(payload.url);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const reserved = Object.keys(payload.headers ?? {}).find(isReservedHeader);
    if (reserved) throw new PermanentJobError(`webhook header "${reserved}" is set by Sluice and may not be given`);
    const body = payload.body !== undefined && method !== 'GET' ? JSON.stringify(payload.body) : undefined;
    const headers: Record<string, string> = {
      ...payload.headers,
      'user-agent': 'sluice-webhook',
      'x-sluice-job-id': id,
      'x-sluice-attempt': String(attempt),
      ...(body !== undefined && { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }),
    };
    const target = `webhook ${method} ${url.origin}${url.pathname}`;
    let response: WebhookResponse;
    const release = await inFlight.acquire(signal);
    const span = startWebhookSpan(method, url, headers);
    try {
      // A literal address never goes through the lookup, so it is checked here.
      if (isIP(host)) policy.checkAddress(host, host);
      response = await send(url, { method, headers, body, signal, timeoutMs: options.timeoutMs, policy, host });
    } catch (error) {
      const failure = failureOf(error, target, signal);
      endWebhookSpan(span, { error: failure });
      throw failure;
    } finally {
      release();
    }
    endWebhookSpan(span, response);
    if (response.status < 200 || response.status > 299) {
      const redirect = response.status >= 300 && response.status < 400 ? ' (redirects are not followed)' : '';
      throw new Error(`${target} answered ${response.status} ${response.statusText}${redirect}`.replace(/\s+$/, ''));
    }
    return { status: response.status, body: cutAtCharacter(response.body, MAX_BODY_PREVIEW) };
  };
}

/** What a request that got no answer fails the attempt with: the same words whatever happened on the wire. */
function failureOf(error: unknown, target: string, signal: AbortSignal): unknown {
  if (error instanceof RefusedTargetError) return new PermanentJobError(error.message);
  if (signal.aborted) return error;
  if (error instanceof NoAnswerError) return new Error(`${target} ${error.message}`);
  return new Error(`${target} got no valid HTTP answer (the connection failed, was closed or the answer was malformed)`);
}

/** The first `length` UTF-16 units of `text`, one fewer when the cut would split a surrogate pair. */
function cutAtCharacter(text: string, length: number): string {
  if (text.length <= length) return text;
  const last = text.charCodeAt(length - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? length - 1 : length);
}

interface SendOptions {
  method: string;
  headers: Record<string, string>;
  body: string | undefined;
  signal: AbortSignal;
  timeoutMs: number;
  policy: OutboundPolicy;
  host: string;
}

function send(url: URL, options: SendOptions): Promise<WebhookResponse> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method, headers: options.headers, lookup: options.policy.lookupFor(options.host), signal: options.signal }, (res) => {
      readCapped(res).then((body) => resolve({ status: res.statusCode ?? 0, statusText: res.statusMessage ?? '', body }), reject);
    });
    // One deadline for the whole exchange: a target dripping a byte at a time gains nothing.
    const deadline = setTimeout(() => req.destroy(new NoAnswerError(`did not finish within ${options.timeoutMs} ms`)), options.timeoutMs);
    const clear = (): void => clearTimeout(deadline);
    req.on('close', clear);
    // Checked again on the address the socket really reached, whatever resolved it.
    req.on('socket', (socket: Socket) => {
      socket.once('connect', () => {
        try {
          if (socket.remoteAddress) options.policy.checkAddress(socket.remoteAddress, options.host);
        } catch (refusal) {
          req.destroy(refusal as Error);
        }
      });
    });
    req.on('error', (error) => {
      clear();
      reject(error);
    });
    req.end(options.body);
  });
}

/** Reads at most MAX_BODY_BYTES of a response, then stops reading; a character cut by the cap is dropped. */
function readCapped(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const decoder = new TextDecoder();
    let text = '';
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      if (size >= MAX_BODY_BYTES) return;
      const kept = chunk.subarray(0, MAX_BODY_BYTES - size);
      size += kept.length;
      text += decoder.decode(kept, { stream: true });
      if (size >= MAX_BODY_BYTES) {
        res.destroy();
        resolve(text);
      }
    });
    res.on('end', () => resolve(text + decoder.decode()));
    res.on('error', reject);
  });
}
