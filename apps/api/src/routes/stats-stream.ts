import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ErrorBody } from '../schemas/jobs';
import { StatsSnapshot } from '../schemas/stats';
import type { StatsHub } from '../stats-hub';

/** A client this far behind (a stalled connection) is dropped rather than buffered without end. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

const DESCRIPTION = [
  'Server-sent events: an `event: snapshot` about once a second whose data is the statistics of every queue',
  '(as GET /stats, plus `perSecond`, the last 60 seconds of throughput), or `event: unavailable` with',
  '`{message}` while Redis does not answer. One snapshot is read per second and shared by every client.',
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
        },
      },
    },
    (request, reply) => {
      reply.hijack();
      const response = reply.raw;
      response.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        // Proxies such as nginx would otherwise hold events back to fill their buffers.
        'x-accel-buffering': 'no',
      });
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
