/**
 * One queue split into 1, 2, 3, 4 and 6 partitions on a local Redis Cluster of three masters, each with
 * a replica: what each master, the replicas, the workers and PostgreSQL spend per job, how evenly the
 * masters share the work, and how many connections each worker process opens.
 *
 *   npx tsx --conditions=sluice-source bench/scale.ts                           # 30,000 no-op jobs, 3 workers at c=50
 *   npx tsx --conditions=sluice-source bench/scale.ts --partitions 6,4,3,2,1 --jobs 60000
 *
 * For each partition count, under a Redis prefix and PostgreSQL schema of its own: the jobs are
 * enqueued with every partition paused, the stock worker processes started and their recorders left
 * to write the submissions' history; the count starts when the partitions resume and stops once
 * PostgreSQL holds every job completed. Waiting for PostgreSQL keeps the recorders' reads and deletes
 * of each partition's events stream, which are Redis work on that partition's master too, inside the
 * count. CPU times come from /proc (Linux only); PostgreSQL is counted for the backends serving the
 * workers' connections, which the other load on a shared server does not move. Uses DATABASE_URL;
 * the cluster runs on free loopback ports and is stopped at the end.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { closeRedis, createRedis, queuePartitions, Queue, waitForRedis, type Partition, type ScriptedRedis } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { createTestDatabase, dropRedisKeys, envFor, isolatedConfig } from '../test/support/context';
import { ServiceProcess } from '../test/support/processes';
import { RedisCluster } from '../test/support/redis-cluster';

const { values: options } = parseArgs({
  options: {
    jobs: { type: 'string', default: '30000' },
    partitions: { type: 'string', default: '1,2,3,4,6' },
    workers: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '50' },
  },
});
const JOBS = Number(options.jobs);
const PARTITION_COUNTS = options.partitions.split(',').map(Number);
const WORKERS = Number(options.workers);
const BATCH = 1000;
/** Linux's USER_HZ, the unit of /proc/<pid>/stat's CPU times. */
const TICKS_PER_SECOND = 100;
/** Longest any one step may take: a run that needs longer has gone wrong. */
const STEP_TIMEOUT_MS = 60_000;
const RUN_TIMEOUT_MS = 600_000;

/** CPU seconds so far of process `pid`, all its threads; 0 once it has ended. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Sockets a process holds open, whatever they connect to: a check on the connections the servers list. */
function openSockets(pid: number): number {
  let sockets = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets += 1;
    } catch {
      // Closed while being read.
    }
  }
  return sockets;
}

/** `field:value` lines of INFO as an object. */
function infoFields(text: string): Record<string, string> {
  return Object.fromEntries(text.split(/\r?\n/).flatMap((line) => {
    const colon = line.indexOf(':');
    return colon > 0 ? [[line.slice(0, colon), line.slice(colon + 1).trim()]] : [];
  }));
}

/** Rejects with `what` if `promise` has not settled within `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it holds, failing after `timeoutMs`, as soon as a worker has exited, or when `check` throws; with what the workers last printed. */
async function until(what: string, check: () => Promise<boolean>, timeoutMs: number, workers: readonly ServiceProcess[], intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const failure = (problem: string): Error =>
    new Error(`${problem}\n${workers.map((worker) => `${worker.name} (last lines):\n${worker.output.slice(-10).join('\n')}`).join('\n')}`);
  for (;;) {
    let done: boolean;
    try {
      done = await check();
    } catch (error) {
      throw failure(`waiting for ${what}: ${String(error)}`);
    }
    if (done) return;
    const dead = workers.find((worker) => worker.child.exitCode !== null || worker.child.signalCode !== null);
    if (dead) throw failure(`${dead.name} exited while waiting for ${what}`);
    if (Date.now() > deadline) throw failure(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** What undoes each resource still held, newest first; run at the end, on failure and on a signal alike. */
const cleanups: { what: string; run: () => Promise<unknown> }[] = [];
/** Undoes what was acquired since `cleanups` was `mark` long. */
async function cleanUp(mark = 0): Promise<void> {
  while (cleanups.length > mark) {
    const step = cleanups.pop() as (typeof cleanups)[number];
    await within(step.run(), STEP_TIMEOUT_MS, step.what).catch((error: unknown) => console.error(`cleaning up, ${step.what}: ${String(error)}`));
  }
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void cleanUp().finally(() => process.exit(130)));

interface ClusterNode {
  port: number;
  pid: number;
  master: boolean;
  client: Redis;
}

/** One node's counters at a moment. */
interface NodeReading {
  cpu: number;
  commands: number;
}

interface Row {
  partitions: number;
  perMaster: number[];
  jobsPerSecond: number;
  masterUs: number[];
  replicasUs: number;
  workersUs: number;
  postgresUs: number;
  opsPerJob: number[];
  redisConnections: number[];
  postgresConnections: number[];
  load: number;
}

const perJob = (seconds: number): number => (seconds * 1e6) / JOBS;
/** Max/min over the masters that hold partitions: one left idle by too few partitions says nothing of the spread. */
const spread = (values: readonly number[], perMaster: readonly number[]): number => {
  const used = values.filter((_, index) => (perMaster[index] ?? 0) > 0);
  return Math.max(...used) / Math.min(...used);
};

async function readNodes(nodes: readonly ClusterNode[]): Promise<NodeReading[]> {
  return Promise.all(nodes.map(async (node) => ({
    cpu: cpuSeconds(node.pid),
    commands: Number(infoFields(await node.client.info('stats')).total_commands_processed),
  })));
}

/**
 * The Redis connections named after each worker, on masters and on replicas, and what each is for:
 * the part of the name after the worker's (a queue partition's reader, `commands`, `recorder`…),
 * with ioredis's own (`ioredis-cluster(subscriber)`) named by their prefix.
 */
async function redisConnectionsOf(nodes: readonly ClusterNode[], names: readonly string[]): Promise<{ masters: number; replicas: number; kinds: Map<string, number> }[]> {
  const found = names.map(() => ({ masters: 0, replicas: 0, kinds: new Map<string, number>() }));
  for (const node of nodes) {
    const list = String(await node.client.call('CLIENT', 'LIST'));
    for (const line of list.split('\n')) {
      const name = /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '';
      names.forEach((worker, index) => {
        const at = name.indexOf(`${worker}:`);
        if (at < 0 || (at > 0 && name[at - 1] !== ':')) return;
        const entry = found[index] as (typeof found)[number];
        if (node.master) entry.masters += 1;
        else entry.replicas += 1;
        const purpose = name.slice(at + worker.length + 1).replace(/^default:\d+$|^default$/, 'reader');
        const kind = `${at > 0 ? `${name.slice(0, at - 1)} ` : ''}${purpose}${node.master ? '' : ' (replica)'}`;
        entry.kinds.set(kind, (entry.kinds.get(kind) ?? 0) + 1);
      });
    }
  }
  return found;
}

async function completedIn(redis: ScriptedRedis, partitions: readonly Partition[]): Promise<number[]> {
  return Promise.all(partitions.map(async ({ keys }) => Number(await redis.hget(keys.counts, 'completed'))));
}

async function measure(cluster: RedisCluster, nodes: readonly ClusterNode[], partitionCount: number): Promise<Row> {
  const mark = cleanups.length;
  try {
    return await measureOnce(cluster, nodes, partitionCount);
  } finally {
    await cleanUp(mark);
  }
}

async function measureOnce(cluster: RedisCluster, nodes: readonly ClusterNode[], partitionCount: number): Promise<Row> {
  const config = isolatedConfig(`bench-scale-${partitionCount}`, {
    REDIS_CLUSTER_NODES: cluster.seedNodes, QUEUES: `default:${partitionCount}`, LOG_LEVEL: 'warn', JOB_RETENTION_MS: '1000',
  });
  const masters = nodes.filter((node) => node.master);
  const partitions = queuePartitions(config.redis.prefix, 'default', partitionCount);
  const homes = await Promise.all(partitions.map(({ keys }) => cluster.masterOf(keys.stream)));
  const perMaster = masters.map((master) => homes.filter((port) => port === master.port).length);

  const database = await createTestDatabase(config);
  cleanups.push({ what: `dropping schema ${config.postgres.schema}`, run: () => database.drop() });
  cleanups.push({ what: `deleting keys under ${config.redis.prefix}`, run: () => dropRedisKeys(config) });
  const redis = createRedis(config.redis);
  cleanups.push({ what: 'closing the producer connection', run: () => closeRedis(redis) });
  await waitForRedis(redis, STEP_TIMEOUT_MS);

  await Promise.all(partitions.map(({ keys }) => redis.set(keys.paused, '1')));
  const queue = new Queue({ redis, redisConfig: config.redis, queueConfig: config.queue, registry: createJobRegistry() });
  for (let done = 0; done < JOBS; done += BATCH) {
    await queue.addBulk(Array.from({ length: Math.min(BATCH, JOBS - done) }, () => ({ type: 'noop', payload: {} })));
  }

  const names = Array.from({ length: WORKERS }, (_, index) => `${config.redis.prefix}-w${index + 1}`);
  const workers = names.map((name) => {
    const worker = ServiceProcess.start(name, 'apps/worker/src/main.ts', {
      ...envFor(config), CONCURRENCY: options.concurrency, LOG_LEVEL: 'info', JOB_RETENTION_MS: '1000', WORKER_NAME: name, PGAPPNAME: name,
    });
    cleanups.push({ what: `stopping ${name} (pid ${worker.child.pid})`, run: () => worker.stop() });
    return worker;
  });
  for (const worker of workers) await worker.waitForOutput('worker started', STEP_TIMEOUT_MS);
  // The paused workers' recorders write the submissions' history meanwhile; that is enqueueing, not processing.
  await until('the submissions\' history to reach PostgreSQL', async () => {
    const lengths = await Promise.all(partitions.map(({ keys }) => redis.xlen(keys.events)));
    return lengths.every((length) => length === 0);
  }, STEP_TIMEOUT_MS, workers, 100);
  await new Promise((resolve) => setTimeout(resolve, 1000));

  const pids = workers.map((worker) => worker.child.pid as number);
  /** The server processes serving the workers' connections, found by the application names they connect with. */
  const backends = async (): Promise<number[]> =>
    (await database.pool.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = ANY($1)', [names])).rows.map((row) => row.pid);
  const workerBackends = new Set(await backends());
  const readProcesses = () => ({
    workers: pids.reduce((sum, pid) => sum + cpuSeconds(pid), 0),
    postgres: [...workerBackends].reduce((sum, pid) => sum + cpuSeconds(pid), 0),
  });
  const load = loadavg()[0] as number;
  const nodesBefore = await readNodes(nodes);
  const before = readProcesses();
  const started = performance.now();
  await Promise.all(partitions.map(({ keys }) => redis.del(keys.paused)));
  // A queue that stops completing jobs fails within a step's bound; one that only runs slowly has the run's.
  let progress = { completed: 0, at: Date.now() };
  await until('every job to complete in Redis', async () => {
    const completed = (await completedIn(redis, partitions)).reduce((sum, n) => sum + n, 0);
    if (completed > progress.completed) progress = { completed, at: Date.now() };
    else if (Date.now() - progress.at > STEP_TIMEOUT_MS) {
      const counts = await Promise.all(partitions.map(async ({ keys }) => JSON.stringify(await redis.hgetall(keys.counts))));
      throw new Error(`no job completed for ${STEP_TIMEOUT_MS} ms, ${completed} of ${JOBS} done; counts per partition: ${counts.join(' ')}`);
    }
    return completed >= JOBS;
  }, RUN_TIMEOUT_MS, workers);
  // Asked only once Redis has every job, so that the count does not load the server the recorders write to.
  await until('PostgreSQL to hold every job completed', async () => {
    const { rows } = await database.pool.query<{ n: string }>("SELECT count(*) AS n FROM jobs WHERE status = 'completed'");
    return Number(rows[0]?.n) >= JOBS;
  }, STEP_TIMEOUT_MS, workers, 20);
  const seconds = (performance.now() - started) / 1000;
  // A connection opened during the run started from zero CPU, so all of it counts.
  for (const backend of await backends()) workerBackends.add(backend);
  const after = readProcesses();
  const nodesAfter = await readNodes(nodes);

  const connections = await redisConnectionsOf(nodes, names);
  const { rows: postgresRows } = await database.pool.query<{ name: string; n: string }>(
    'SELECT application_name AS name, count(*) AS n FROM pg_stat_activity WHERE application_name = ANY($1) GROUP BY application_name', [names]);
  const postgresConnections = names.map((name) => Number(postgresRows.find((row) => row.name === name)?.n ?? 0));
  const completed = await completedIn(redis, partitions);

  const nodeUs = nodes.map((_, index) => perJob((nodesAfter[index] as NodeReading).cpu - (nodesBefore[index] as NodeReading).cpu));
  const nodeOps = nodes.map((_, index) => ((nodesAfter[index] as NodeReading).commands - (nodesBefore[index] as NodeReading).commands) / JOBS);
  const row: Row = {
    partitions: partitionCount,
    perMaster,
    jobsPerSecond: JOBS / seconds,
    masterUs: nodeUs.filter((_, index) => nodes[index]?.master),
    replicasUs: nodeUs.filter((_, index) => !nodes[index]?.master).reduce((sum, us) => sum + us, 0),
    workersUs: perJob(after.workers - before.workers),
    postgresUs: perJob(after.postgres - before.postgres),
    opsPerJob: nodeOps.filter((_, index) => nodes[index]?.master),
    redisConnections: connections.map((found) => found.masters + found.replicas),
    postgresConnections,
    load,
  };

  console.log(`\n${partitionCount} partition(s), ${perMaster.join('/')} on masters ${masters.map((master) => master.port).join('/')}; jobs completed per partition ${completed.join('/')}`);
  console.log(`  ${row.jobsPerSecond.toFixed(0)} jobs/s in ${seconds.toFixed(2)} s, 1-minute load ${load.toFixed(1)}`);
  console.log(`  CPU µs/job: masters ${row.masterUs.map((us) => us.toFixed(1)).join(' / ')}, replicas ${nodeUs.filter((_, index) => !nodes[index]?.master).map((us) => us.toFixed(1)).join(' / ')}, ` +
    `workers ${pids.map((pid, index) => `${names[index]}=${pid}`).join(' ')} ${row.workersUs.toFixed(1)}, PostgreSQL ${row.postgresUs.toFixed(1)}`);
  console.log(`  Redis commands per job (scripts' own calls included): masters ${row.opsPerJob.map((ops) => ops.toFixed(2)).join(' / ')}; replicas ${nodeOps.filter((_, index) => !nodes[index]?.master).map((ops) => ops.toFixed(2)).join(' / ')}`);
  connections.forEach((found, index) => {
    console.log(`  ${names[index]}: Redis ${found.masters} to masters + ${found.replicas} to replicas (${[...found.kinds].map(([kind, n]) => `${kind} ${n}`).join(', ')}), ` +
      `PostgreSQL ${postgresConnections[index]}, sockets open ${openSockets(pids[index] as number)}`);
  });
  return row;
}

const cluster = await RedisCluster.start();
cleanups.push({ what: 'stopping the cluster', run: () => cluster.stop() });
const rows: Row[] = [];
try {
  const masterPorts = await cluster.masters();
  const nodes = await Promise.all(cluster.seedNodes.split(',').map(async (address): Promise<ClusterNode> => {
    const port = Number(address.split(':')[1]);
    const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    client.on('error', () => undefined);
    cleanups.push({ what: `closing the connection to node ${port}`, run: async () => client.disconnect() });
    const pid = Number(infoFields(await client.info('server')).process_id);
    return { port, pid, master: masterPorts.includes(port), client };
  }));
  type SlotRange = [number, number, ...[string, number][]];
  // A new cluster's nodes list the replicas in CLUSTER SLOTS a little after it serves every slot; clients
  // connect to the replicas they learn of there, so each partition count would otherwise start from another topology.
  let slots: SlotRange[] = [];
  await until('every node to list every replica in CLUSTER SLOTS', async () => {
    const views = await Promise.all(nodes.map(async (node) => (await node.client.call('CLUSTER', 'SLOTS')) as SlotRange[]));
    slots = views[0] ?? [];
    return views.every((view) => view.every((range) => range.length >= 4));
  }, STEP_TIMEOUT_MS, [], 100);
  // Masters in the order of the slots they serve, then their replicas in the same order: a column then
  // names the same master in every run, whatever ports the nodes got.
  const firstSlot = (port: number): number => Math.min(...slots.filter(([, , ...servers]) => servers.some(([, served]) => served === port)).map(([start]) => start));
  nodes.sort((a, b) => Number(b.master) - Number(a.master) || firstSlot(a.port) - firstSlot(b.port));
  console.log(`cluster: masters ${nodes.filter((node) => node.master).map((node) => `${node.port} (pid ${node.pid})`).join(', ')}; ` +
    `replicas ${nodes.filter((node) => !node.master).map((node) => `${node.port} (pid ${node.pid})`).join(', ')}`);
  for (const count of PARTITION_COUNTS) rows.push(await measure(cluster, nodes, count));
} finally {
  await cleanUp();
}

console.log(`\n${JOBS} no-op jobs, processing only, ${WORKERS} worker processes at c=${options.concurrency}, 3 masters + 3 replicas on loopback\n`);
console.log('| partitions | on each master, by slot range | jobs/s | CPU µs/job, each master | masters | replicas | workers | PostgreSQL (workers\' backends) | Redis commands max/min, masters with partitions | CPU max/min, the same | Redis connections per worker | PostgreSQL connections per worker | load |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const row of rows) {
  console.log(`| ${row.partitions} | ${row.perMaster.join(' / ')} | ${row.jobsPerSecond.toFixed(0)} | ${row.masterUs.map((us) => us.toFixed(1)).join(' / ')} | ` +
    `${row.masterUs.reduce((sum, us) => sum + us, 0).toFixed(1)} | ${row.replicasUs.toFixed(1)} | ${row.workersUs.toFixed(1)} | ${row.postgresUs.toFixed(1)} | ` +
    `${spread(row.opsPerJob, row.perMaster).toFixed(2)} | ${spread(row.masterUs, row.perMaster).toFixed(2)} | ${[...new Set(row.redisConnections)].join(' / ')} | ${[...new Set(row.postgresConnections)].join(' / ')} | ${row.load.toFixed(1)} |`);
}
