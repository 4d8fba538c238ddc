import { readFileSync } from 'node:fs';
import { Cluster, Redis, ReplyError, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config.js';
import { RedisUnavailableError, SluiceError } from '../errors.js';
import { defineScripts, type RedisClient, type ScriptedRedis } from './scripts.js';

/** How a connection behaves when Redis goes away. */
export interface RedisConnectionOptions {
  /**
   * Fail commands at once while disconnected instead of queueing them. Producers want this: a
   * submission answers 503 straight away rather than hang. Default true.
   */
  failFast?: boolean;
  /** Longest wait for one command's answer, in ms. Default 1500; blocking readers pass 0 (none). */
  commandTimeoutMs?: number;
  /** Name shown by CLIENT LIST. */
  connectionName?: string;
  /**
   * Send the commands issued in one turn of the event loop as one write (ioredis auto-pipelining):
   * many concurrent requests, each with its own command, then cost one round trip. Default false.
   */
  autoPipelining?: boolean;
}

/**
 * Opens a connection with Sluice's scripts defined on it: to REDIS_URL's node, to the master the
 * sentinels name, or to a Redis Cluster. It reconnects by itself with capped backoff.
 */
export function createRedis(config: RedisConfig, options: RedisConnectionOptions = {}): ScriptedRedis {
  const failFast = options.failFast ?? true;
  const redisOptions: RedisOptions = {
    lazyConnect: false,
    enableOfflineQueue: !failFast,
    maxRetriesPerRequest: failFast ? 1 : null,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(50 * 2 ** times, 2000) + Math.floor(Math.random() * 100),
    // A submission's WAIT for replicas may take up to REDIS_WAIT_TIMEOUT_MS: its reply is not late before then.
    ...(options.commandTimeoutMs !== 0 && { commandTimeout: Math.max(options.commandTimeoutMs ?? 1500, config.waitReplicas > 0 ? config.waitTimeoutMs + 500 : 0) }),
    ...(options.connectionName !== undefined && { connectionName: options.connectionName }),
    // Not on a cluster: ioredis routes an auto-pipelined script call by its first argument, the number
    // of keys, not by its keys, and a batch then mixes nodes, which the cluster refuses.
    ...(options.autoPipelining && config.clusterNodes.length === 0 && { enableAutoPipelining: true }),
  };
  if (config.clusterNodes.length > 0) return defineScripts(new Cluster(config.clusterNodes, clusterOptions(config, redisOptions)));
  if (config.sentinels.length > 0) return defineScripts(new Redis(sentinelOptions(config, redisOptions)));
  return defineScripts(new Redis(config.url, { ...redisOptions, ...tlsOptions(config) }));
}

/** REDIS_URL's credentials, for connections whose nodes come from elsewhere. */
function credentialsOf(url: URL): RedisOptions {
  return {
    ...(url.username !== '' && { username: decodeURIComponent(url.username) }),
    ...(url.password !== '' && { password: decodeURIComponent(url.password) }),
  };
}

/** TLS settings for a `rediss:` REDIS_URL: ioredis turns TLS on from the URL, and REDIS_TLS_CA_FILE adds a private CA. */
function tlsOptions(config: RedisConfig): RedisOptions {
  if (new URL(config.url).protocol !== 'rediss:') return {};
  return { tls: config.tlsCaFile === undefined ? {} : { ca: readFileSync(config.tlsCaFile) } };
}

/**
 * The options of a cluster connection: every node connection gets REDIS_URL's credentials and TLS,
 * and the per-command options of `base`.
 */
function clusterOptions(config: RedisConfig, base: RedisOptions): ClusterOptions {
  const { retryStrategy, maxRetriesPerRequest, enableOfflineQueue, enableAutoPipelining, lazyConnect: _eager, ...perNode } = base;
  return {
    // A node is connected to when a command goes to it (ioredis's own choice, which a lazyConnect here
    // would override): a reader talks to its partition's master only.
    redisOptions: { ...perNode, maxRetriesPerRequest, ...credentialsOf(new URL(config.url)), ...tlsOptions(config) },
    clusterRetryStrategy: retryStrategy,
    ...(enableOfflineQueue !== undefined && { enableOfflineQueue }),
    ...(enableAutoPipelining !== undefined && { enableAutoPipelining }),
    // A command sent while the cluster moves a slot or fails over is sent again, where the cluster says.
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    retryDelayOnTryAgain: 100,
    ...(Object.keys(config.clusterNatMap).length > 0 && { natMap: config.clusterNatMap }),
  };
}

/** The options of a connection to the master the sentinels name, with REDIS_URL's credentials, database and TLS. */
function sentinelOptions(config: RedisConfig, base: RedisOptions): RedisOptions {
  const url = new URL(config.url);
  const db = Number(url.pathname.slice(1) || 0);
  return {
    ...base,
    sentinels: config.sentinels,
    name: config.sentinelMaster,
    ...(config.sentinelPassword !== undefined && { sentinelPassword: config.sentinelPassword }),
    ...credentialsOf(url),
    ...(db > 0 && { db }),
    ...(url.protocol === 'rediss:' && { ...tlsOptions(config), enableTLSForSentinelMode: true }),
    // Told of a failover by the sentinels themselves, rather than only when the old master stops answering.
    failoverDetector: true,
    // A node demoted by a failover answers writes with READONLY: reconnect, to the master the sentinels name now, and resend.
    reconnectOnError: (error) => (error.message.startsWith('READONLY') ? 2 : false),
  };
}

/** Waits until the connection is ready, or throws `RedisUnavailableError` after `timeoutMs`. */
export async function waitForRedis(redis: RedisClient, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new RedisUnavailableError(new Error(`no connection within ${timeoutMs} ms`)));
    }, timeoutMs);
    const onReady = (): void => {
      cleanup();
      resolve();
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}

/** Closes a connection, politely if it is up and at once if not. */
export async function closeRedis(redis: RedisClient): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}

/**
 * Replies that mean "Redis cannot serve right now", as opposed to a bug in a command or script; a
 * MOVED or ASK that reaches a caller is a slot that moved while a cluster failed over or resharded.
 */
const TRANSIENT_REPLIES = ['LOADING', 'READONLY', 'MASTERDOWN', 'CLUSTERDOWN', 'TRYAGAIN', 'BUSY', 'MOVED', 'ASK'];

/**
 * Maps what a Redis call threw to what callers act on: connection loss, timeouts and transient
 * replies become `RedisUnavailableError` (a 503, retried later); Sluice's own errors and any other
 * reply error (a bug) are passed through unchanged.
 */
export function toRedisError(error: unknown): unknown {
  if (error instanceof SluiceError) return error;
  if (error instanceof ReplyError && !TRANSIENT_REPLIES.some((code) => (error as Error).message.startsWith(code))) return error;
  return new RedisUnavailableError(error);
}
