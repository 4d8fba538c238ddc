import { ReplyError, type Cluster, type Redis } from 'ioredis';
import { RedisInfoRefusedError } from './errors.js';
import { toRedisError } from './redis/client.js';
import type { RedisClient } from './redis/scripts.js';

/** One Redis node's figures from INFO: what an operator watches, and nothing that names a host or a secret. */
export interface RedisNodeHealth {
  /** `master 1 of 3` on a cluster, `node` otherwise. */
  name: string;
  role: string;
  version: string;
  usedMemoryBytes: number;
  /** 0 when no limit is set. */
  maxMemoryBytes: number;
  /** What Redis does when maxmemory is reached; a queue needs `noeviction`, or jobs may be evicted. */
  maxMemoryPolicy: string;
  opsPerSecond: number;
  connectedClients: number;
  uptimeSeconds: number;
}

/** The INFO fields read, by section. */
const SECTIONS = ['server', 'memory', 'stats', 'clients', 'replication'] as const;

/** Parses INFO's `field:value` lines. */
function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

async function nodeHealth(node: Redis, name: string): Promise<RedisNodeHealth> {
  const info = parseInfo((await Promise.all(SECTIONS.map((section) => node.info(section)))).join('\r\n'));
  const number = (field: string) => Number(info.get(field) ?? 0) || 0;
  return {
    name,
    role: info.get('role') ?? 'unknown',
    version: info.get('redis_version') ?? 'unknown',
    usedMemoryBytes: number('used_memory'),
    maxMemoryBytes: number('maxmemory'),
    maxMemoryPolicy: info.get('maxmemory_policy') ?? 'unknown',
    opsPerSecond: number('instantaneous_ops_per_sec'),
    connectedClients: number('connected_clients'),
    uptimeSeconds: number('uptime_in_seconds'),
  };
}

/**
 * The health of the Redis Sluice uses: one node, or each master of a cluster, from INFO. Only
 * figures are read (never CONFIG, CLIENT LIST or addresses), so the answer can go to any operator.
 */
export async function redisHealth(redis: RedisClient): Promise<RedisNodeHealth[]> {
  try {
    if (!(redis as Cluster).isCluster) return [await nodeHealth(redis as Redis, 'node')];
    // In the order of their addresses, so each keeps its name from one read to the next; the addresses themselves are not shown.
    const address = (node: Redis) => `${node.options.host ?? ''}:${String(node.options.port ?? '').padStart(5, '0')}`;
    const masters = (redis as Cluster).nodes('master').sort((a, b) => address(a).localeCompare(address(b)));
    return await Promise.all(masters.map((node, index) => nodeHealth(node, `master ${index + 1} of ${masters.length}`)));
  } catch (error) {
    if (error instanceof ReplyError && (error as Error).message.startsWith('NOPERM')) throw new RedisInfoRefusedError(error);
    throw toRedisError(error);
  }
}
