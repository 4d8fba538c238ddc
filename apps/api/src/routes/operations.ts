import { historyBacklog, redisHealth, workerProcesses } from '@sluice/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { AppDeps } from '../app.js';
import { ErrorBody } from '../schemas/jobs.js';
import { SystemBody, WorkersBody } from '../schemas/operations.js';

const errors = { 401: ErrorBody, 403: ErrorBody, 503: ErrorBody };

/** GET /workers and GET /system: who runs jobs, and how Redis and the history are doing. Behind the API key, as they name hosts and processes. */
export const operationRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.get(
    '/workers',
    { schema: { summary: 'Live worker processes: host, pid, memory, version, uptime, and the jobs each runs now', response: { 200: WorkersBody, ...errors } } },
    async () => ({ workers: await workerProcesses(deps.redis, deps.redisConfig.prefix) }),
  );

  app.get(
    '/system',
    {
      schema: {
        summary: 'Redis health (memory, ops/s, clients, version, role; per master on a cluster) and how far the history in PostgreSQL is behind',
        response: { 200: SystemBody, ...errors },
      },
    },
    async () => {
      const [nodes, backlog] = await Promise.all([redisHealth(deps.redis), historyBacklog(deps.redis, deps.layouts, deps.queue.queues)]);
      const queues = Object.fromEntries(Object.entries(backlog).map(([queue, { entries, lagMs, setAside }]) => [queue, { backlog: entries, lagMs, setAside }]));
      const all = Object.values(queues);
      return {
        redis: { nodes },
        history: {
          backlog: all.reduce((sum, queue) => sum + queue.backlog, 0),
          lagMs: Math.max(0, ...all.map((queue) => queue.lagMs)),
          setAside: all.reduce((sum, queue) => sum + queue.setAside, 0),
          queues,
        },
      };
    },
  );
};
