import { historyBacklog, messageOf } from '@sluice/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppDeps } from '../app.js';
import { describeDependencyFailure } from '../dependency-failure.js';

const CHECK_TIMEOUT_MS = 1500;

const DependencyCheck = Type.Object({ status: Type.Union([Type.Literal('up'), Type.Literal('down')]), error: Type.Optional(Type.String()) });
const HistoryCheck = Type.Object({
  status: Type.Union([Type.Literal('up'), Type.Literal('behind'), Type.Literal('unknown')]),
  lagMs: Type.Optional(Type.Integer({ description: 'Age of the oldest event not yet in PostgreSQL, across queues.' })),
  backlog: Type.Optional(Type.Integer({ description: 'Events-stream entries waiting for PostgreSQL, across queues.' })),
  setAside: Type.Optional(Type.Integer({ description: 'Events PostgreSQL refused for their content, set aside in Redis.' })),
});
const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable'), Type.Literal('degraded')]),
  checks: Type.Object({ redis: DependencyCheck, postgres: DependencyCheck, history: HistoryCheck }),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
});

/** A dependency's state; `error` says why it is down in words that name no host (`cause`, the driver's own error, is for the log). */
async function check(probe: () => Promise<unknown>): Promise<{ status: 'up' | 'down'; error?: string; cause?: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([probe(), timeout]);
    return { status: 'up' };
  } catch (error) {
    return { status: 'down', error: describeDependencyFailure(error), cause: error };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * GET /health (liveness) and GET /health/ready: Redis and PostgreSQL answer (else 503 unavailable),
 * and PostgreSQL's history is no more than `historyLagReadyMs` behind (else 503 degraded).
 */
export const healthRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps; historyLagReadyMs: number }> = async (app, { deps, historyLagReadyMs }) => {
  app.get('/health', { schema: { summary: 'Liveness', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({
    status: 'ok' as const,
  }));

  app.get('/health/ready', { schema: { summary: 'Readiness: Redis and PostgreSQL answer, and the history keeps up', response: { 200: Readiness, 503: Readiness } } }, async (request, reply) => {
    const [redis, postgres, history] = await Promise.all([
      check(() => deps.redis.ping()),
      check(() => deps.pool.query('SELECT 1')),
      historyCheck(deps, historyLagReadyMs),
    ]);
    const checks = { redis, postgres, history };
    const down = Object.entries({ redis, postgres }).filter(([, result]) => result.status === 'down');
    if (down.length > 0) {
      request.log.warn(Object.fromEntries(down.map(([name, result]) => [name, messageOf(result.cause)])), 'not ready');
      const message = down.map(([name, result]) => `${name === 'redis' ? 'Redis' : 'PostgreSQL'} is down: ${result.error}`).join('; ');
      return reply.code(503).send({ status: 'unavailable', checks, error: { code: 'NOT_READY', message } });
    }
    if (history.status === 'behind') {
      const message = `The job history in PostgreSQL is ${Math.round((history.lagMs ?? 0) / 1000)} s behind (over ${historyLagReadyMs / 1000} s, ` +
        `HISTORY_LAG_READY_MS); ${history.backlog} events-stream entries wait in Redis. Check the workers' history recorder log.`;
      return reply.code(503).send({ status: 'degraded', checks, error: { code: 'HISTORY_BEHIND', message } });
    }
    return { status: 'ok' as const, checks };
  });
};

/** How far the history is behind, across queues; `unknown` when Redis cannot tell in time. */
async function historyCheck(deps: AppDeps, lagReadyMs: number): Promise<{ status: 'up' | 'behind' | 'unknown'; lagMs?: number; backlog?: number; setAside?: number }> {
  let backlog: Awaited<ReturnType<typeof historyBacklog>> | undefined;
  const result = await check(async () => {
    backlog = await historyBacklog(deps.redis, deps.layouts, deps.queue.queues);
  });
  if (result.status === 'down' || !backlog) return { status: 'unknown' };
  const queues = Object.values(backlog);
  const lagMs = Math.max(0, ...queues.map((queue) => queue.lagMs));
  const total = (field: 'entries' | 'setAside') => queues.reduce((sum, queue) => sum + queue[field], 0);
  return { status: lagReadyMs > 0 && lagMs > lagReadyMs ? 'behind' : 'up', lagMs, backlog: total('entries'), setAside: total('setAside') };
}
