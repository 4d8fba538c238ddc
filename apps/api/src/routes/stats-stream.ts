import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sendError } from '../plugins/errors.js';
import { ErrorBody } from '../schemas/jobs.js';
import { StatsSnapshot } from '../schemas/stats.js';
import type { StatsHub } from '../stats-hub.js';

/** A client this far behind (a stalled connection) is dropped rather than buffered without end. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

/**
 * Clients one process streams to at once. Each holds a connection and up to MAX_BUFFERED_BYTES, so
 * the number is bounded; a client past it gets 503 with Retry-After (GET /stats answers it too).
 */
export const MAX_STATS_STREAM_CLIENTS = 100;
/** Seconds a refused client is told to wait before trying again. */
const RETRY_AFTER_SECONDS = 5;

const STREAM_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  // Proxies such as nginx would otherwise hold events back to fill their buffers.
  'x-accel-buffering': 'no',
};

const DESCRIPTION = [
  'Server-sent events: an `event: snapshot` about once a second whose data is the statistics of every queue',
  '(as GET /stats, plus `perSecond`, the last 60 seconds of throughput), or `event: unavailable` with',
  '`{message}` while Redis does not answer. One snapshot is read per second and shared by every client.',
  `At most ${MAX_STATS_STREAM_CLIENTS} clients at once: past that, 503 with Retry-After. HEAD answers the headers and ends.`,
].join(' ');

/** GET /stats/stream: the statistics pushed once a second. */
export const statsStreamRoutes: FastifyPluginAsyncTypebox<{ hub: StatsHub }> = async (app, { hub }) => {
  app.get(
    '/stats/stream',
    {
      schema: {
        summary: 'Per queue statistics, pushed once a second (server-sent events)',
        description: DESCRIPTION,
        response: {
          200: { description: 'A text/event-stream of snapshots.', content: { 'text/event-stream': { schema: StatsSnapshot } } },
          401: ErrorBody,
          403: ErrorBody,
          503: ErrorBody,
        },
      },
    },
    (request, reply) => {
      if (hub.listenerCount >= MAX_STATS_STREAM_CLIENTS) {
        void sendError(reply.header('retry-after', String(RETRY_AFTER_SECONDS)), 503, 'TOO_MANY_STREAMS',
          `This server already streams statistics to ${MAX_STATS_STREAM_CLIENTS} clients, its most. Try again in ${RETRY_AFTER_SECONDS} s, or poll GET /stats.`);
        return;
      }
      reply.hijack();
      const response = reply.raw;
      response.writeHead(200, STREAM_HEADERS);
      // HEAD has no body to stream: the headers alone, and the connection is free at once.
      if (request.method === 'HEAD') {
        response.end();
        return;
      }
      const unsubscribe = hub.subscribe({
        send(frame) {
          if (response.writableLength > MAX_BUFFERED_BYTES) {
            request.log.warn({}, 'stats stream client too slow: dropped');
            response.destroy();
            return;
          }
          response.write(frame);
        },
        end: () => response.end(),
      });
      response.on('close', unsubscribe);
    },
  );
};
