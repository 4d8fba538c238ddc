import { messageOf } from '@sluice/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { AppDeps } from '../app';

const CHECK_TIMEOUT_MS = 1500;

const DependencyCheck = Type.Object({ status: Type.Union([Type.Literal('up'), Type.Literal('down')]), error: Type.Optional(Type.String()) });
const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  checks: Type.Object({ redis: DependencyCheck, postgres: DependencyCheck }),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
});

async function check(probe: () => Promise<unknown>): Promise<{ status: 'up' | 'down'; error?: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([probe(), timeout]);
    return { status: 'up' };
  } catch (error) {
    return { status: 'down', error: messageOf(error) };
  } finally {
    clearTimeout(timer);
  }
}

/** GET /health (liveness) and GET /health/ready (Redis and PostgreSQL answer). */
export const healthRoutes: FastifyPluginAsyncTypebox<{ deps: AppDeps }> = async (app, { deps }) => {
  app.get('/health', { schema: { summary: 'Liveness', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({
    status: 'ok' as const,
  }));

  app.get('/health/ready', { schema: { summary: 'Readiness: Redis and PostgreSQL answer', response: { 200: Readiness, 503: Readiness } } }, async (_, reply) => {
    const [redis, postgres] = await Promise.all([check(() => deps.redis.ping()), check(() => deps.pool.query('SELECT 1'))]);
    const down = Object.entries({ redis, postgres }).filter(([, result]) => result.status === 'down');
    if (down.length === 0) return { status: 'ok' as const, checks: { redis, postgres } };
    const message = down.map(([name, result]) => `${name === 'redis' ? 'Redis' : 'PostgreSQL'} is down: ${result.error}`).join('; ');
    return reply.code(503).send({ status: 'unavailable', checks: { redis, postgres }, error: { code: 'NOT_READY', message } });
  });
};
