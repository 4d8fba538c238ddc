import { randomUUID } from 'node:crypto';
import { queueStats, type Database, type DeadLetters, type JobTypeCatalog, type Queue, type QueueAdmin, type QueueLayouts, type ScriptedRedis, type SluiceConfig } from '@sluice/core';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type pg from 'pg';
import rateLimit from '@fastify/rate-limit';
import { rateLimitIdentity, registerAuth } from './plugins/auth.js';
import { registerCrossOriginCheck } from './plugins/cross-origin.js';
import { registerDashboard } from './plugins/dashboard.js';
import { registerErrorHandling, registerNotFound, routingError } from './plugins/errors.js';
import { registerHostCheck } from './plugins/host-check.js';
import { ApiMetrics, registerMetricsRoute } from './plugins/metrics.js';
import { registerOpenApi } from './plugins/openapi.js';
import { registerSecurityHeaders } from './plugins/security-headers.js';
import { healthRoutes } from './routes/health.js';
import { jobActionRoutes } from './routes/job-actions.js';
import { jobListRoutes } from './routes/job-list.js';
import { jobTypeRoutes } from './routes/job-types.js';
import { jobRoutes } from './routes/jobs.js';
import { operationRoutes } from './routes/operations.js';
import { queueRoutes } from './routes/queues.js';
import { scheduleRoutes } from './routes/schedules.js';
import { statsHistoryRoutes } from './routes/stats-history.js';
import { statsStreamRoutes } from './routes/stats-stream.js';
import { snapshotView } from './schemas/stats.js';
import { StatsHub } from './stats-hub.js';

/** What the routes work with, made once by the server (or a test) and passed in. */
export interface AppDeps {
  queue: Queue;
  deadLetters: DeadLetters;
  queueAdmin: QueueAdmin;
  redis: ScriptedRedis;
  redisConfig: SluiceConfig['redis'];
  /** The partitions of each queue, those of an earlier partition count included while they drain. */
  layouts: QueueLayouts;
  pool: pg.Pool;
  db: Database;
  /** Where job lists and finished jobs are read: a read replica (DATABASE_READ_URL), or `db`. */
  readDb?: Database;
  /** The job types the API accepts: those live workers publish, and any declared to it. */
  types: JobTypeCatalog;
}

/** How the app is built beyond its configuration and dependencies; tests change the last two. */
export interface AppOptions {
  logger?: FastifyBaseLogger;
  /** Folder of the built dashboard. Default: DASHBOARD_DIR (see ApiConfig.dashboardDir). */
  dashboardDir?: string;
  /** Time between two snapshots of GET /stats/stream. Default: 1 s. */
  statsIntervalMs?: number;
}

/** Fastify's default: longer than load balancers keep idle connections (60 s on AWS), so they close them first. */
const KEEP_ALIVE_TIMEOUT_MS = 72_000;

/** Log levels at which each request gets its lines. */
const DETAILED_LOG_LEVELS = ['debug', 'trace'];

/** Builds the HTTP producer. `server.ts` only listens; tests call `inject`. */
export async function buildApp(config: SluiceConfig, deps: AppDeps, options: AppOptions = {}): Promise<FastifyInstance> {
  const { logger } = options;
  const app = Fastify({
    ...(logger ? { loggerInstance: logger } : { logger: false }),
    // A line per request would drown the log under load: only at LOG_LEVEL=debug or trace. Errors are
    // logged by the error handler either way.
    logController: new LogController({ disableRequestLogging: (request) => !DETAILED_LOG_LEVELS.includes(request.log.level) }),
    bodyLimit: config.api.bodyLimit,
    // A client trickling its request (headers or body) holds a connection for no longer than this.
    // Node looks for overdue requests every connectionsCheckingInterval (30 s by default): a quarter
    // of the timeout, at most a second, keeps the bound close.
    requestTimeout: config.api.requestTimeoutMs,
    http: { requestTimeout: config.api.requestTimeoutMs, connectionsCheckingInterval: Math.min(1000, config.api.requestTimeoutMs / 4) },
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // A connection silent both ways (a client that stopped reading its answer) is cut; an idle one
    // is closed by keep-alive first, which clients are told of, so none reuses a connection cut under it.
    connectionTimeout: KEEP_ALIVE_TIMEOUT_MS + config.api.requestTimeoutMs,
    // Ids that stay unique across restarts and instances: a 5xx names its request id, and the log finds it.
    genReqId: () => randomUUID(),
    // Fastify's defaults coerce "100" into 100 and drop unknown fields; the contract wants both refused.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false } },
    return503OnClosing: true,
    frameworkErrors: routingError,
  }).withTypeProvider<TypeBoxTypeProvider>();

  // JSON only: anything else (text/plain included, which Fastify parses by default) is a 415.
  app.removeContentTypeParser(['text/plain']);
  registerErrorHandling(app);
  registerSecurityHeaders(app);
  // Before the key check: a page of another site, or of a rebound name, is refused whatever it sends.
  registerHostCheck(app, config.api);
  registerCrossOriginCheck(app, config.api.allowedOrigins);
  if (config.api.apiKeys.length > 0) registerAuth(app, config.api.apiKeys, config.api.authFailuresPerMinute);
  // Before every route (the limiter guards the routes registered after it), 404s included.
  if (config.api.rateLimitPerMinute > 0) {
    await app.register(rateLimit, {
      max: config.api.rateLimitPerMinute,
      timeWindow: 60_000,
      keyGenerator: rateLimitIdentity,
      allowList: (request) => request.url.startsWith('/health'),
      errorResponseBuilder: (_request, context) =>
        Object.assign(new Error(`Too many requests: at most ${context.max} a minute. Try again in ${Math.ceil(context.ttl / 1000)} s.`), {
          statusCode: 429,
          code: 'RATE_LIMITED',
        }),
    });
  }
  registerNotFound(app, config.api.rateLimitPerMinute > 0 ? app.rateLimit() : undefined);
  await registerOpenApi(app, config.api.apiKeys.length > 0);
  const metrics = new ApiMetrics(deps);
  registerMetricsRoute(app, metrics);
  await app.register(healthRoutes, { deps, historyLagReadyMs: config.api.historyLagReadyMs });
  await app.register(jobRoutes, { deps, metrics });
  await app.register(jobListRoutes, { deps });
  await app.register(jobActionRoutes, { deps });
  await app.register(queueRoutes, { deps });
  await app.register(jobTypeRoutes, { deps });
  await app.register(operationRoutes, { deps });
  await app.register(scheduleRoutes, { deps });
  await app.register(statsHistoryRoutes, { deps });
  const statsHub = new StatsHub(async () => snapshotView(await queueStats(deps.redis, deps.layouts, deps.queue.queues), new Date()), options.statsIntervalMs);
  app.decorate('statsHub', statsHub);
  // Before the server waits for connections to finish: an open stream would hold app.close() forever.
  app.addHook('preClose', async () => statsHub.close());
  await app.register(statsStreamRoutes, { hub: statsHub });
  await registerDashboard(app, options.dashboardDir ?? config.api.dashboardDir);
  return app;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The shared snapshot reader behind GET /stats/stream. */
    statsHub: StatsHub;
  }
}
