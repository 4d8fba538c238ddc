import { ApiError, type ApiClient } from './client';
import { SseParser } from './sse';
import type { StatsSnapshot } from './types';

/** What the stream reports to the page. */
export interface StatsStreamHandlers {
  snapshot(snapshot: StatsSnapshot): void;
  /** The connection state changed; `message` says why when it is not live. */
  state(state: 'connecting' | 'live' | 'unavailable', message?: string): void;
  /** The API refused the key: the person must enter another. */
  unauthorized(error: ApiError): void;
}

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 10_000;

/**
 * Follows GET /stats/stream until stopped, reconnecting with a growing pause when the connection
 * drops. EventSource cannot send an Authorization header, so this reads the stream with fetch,
 * which can, and the key never appears in a URL.
 */
export function followStats(client: ApiClient, handlers: StatsStreamHandlers): () => void {
  const controller = new AbortController();
  let retryMs = RETRY_MIN_MS;

  const connect = async (): Promise<void> => {
    handlers.state('connecting');
    const response = await fetch('/stats/stream', { headers: { ...client.headers(), accept: 'text/event-stream' }, signal: controller.signal });
    if (!response.ok || !response.body) {
      const body = (await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
      throw new ApiError(response.status, body.error?.code ?? 'HTTP_ERROR', body.error?.message ?? `The API answered ${response.status}.`);
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    const parser = new SseParser();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      for (const event of parser.push(value)) {
        const data = JSON.parse(event.data) as unknown;
        if (event.event === 'snapshot') {
          retryMs = RETRY_MIN_MS;
          handlers.state('live');
          handlers.snapshot(data as StatsSnapshot);
        } else if (event.event === 'unavailable') {
          handlers.state('unavailable', (data as { message: string }).message);
        }
      }
    }
  };

  const loop = async (): Promise<void> => {
    while (!controller.signal.aborted) {
      try {
        await connect();
        if (!controller.signal.aborted) handlers.state('unavailable', 'The API closed the stream; reconnecting.');
      } catch (error) {
        if (controller.signal.aborted) return;
        if (error instanceof ApiError && error.isAuth) return handlers.unauthorized(error);
        handlers.state('unavailable', error instanceof ApiError ? error.message : 'The API cannot be reached; reconnecting.');
      }
      await new Promise((resolve) => setTimeout(resolve, retryMs));
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
    }
  };

  void loop();
  return () => controller.abort();
}
