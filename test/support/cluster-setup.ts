import type { TestProject } from 'vitest/node';
import { RedisCluster } from './redis-cluster';

/**
 * Starts one Redis Cluster for the whole run of a project whose tests run on one, provides its seed
 * nodes (test/support/context.ts's isolatedConfig puts them in REDIS_CLUSTER_NODES) and stops it
 * when the run ends.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cluster = await RedisCluster.start();
  project.provide('redisClusterNodes', cluster.seedNodes);
  return () => cluster.stop();
}
