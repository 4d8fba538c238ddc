import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { askRedis, freePort } from './redis-server';
// Not from ./context, which imports @sluice/core: a global setup runs in vitest's own process, where a
// workspace package does not resolve to its sources.
import { waitFor } from './wait-for';

/** Slots a Redis Cluster shares its keys out in. */
const SLOT_COUNT = 16_384;
const MASTERS = 3;
const REPLICAS_PER_MASTER = 1;

/** One redis-server of the cluster: the port clients use, and the one the nodes talk among themselves on. */
interface ClusterNode {
  port: number;
  busPort: number;
  process: ChildProcess | undefined;
}

/** A line of CLUSTER NODES. */
interface NodeView {
  id: string;
  port: number;
  flags: string[];
}

/**
 * Three masters, each with a replica, on loopback ports of a test run's own: the smallest cluster
 * whose masters outvote one that died, so its replica takes over by itself. Every process is
 * stopped by PID, by `stop` or, should the run end without it, when this process exits.
 */
export class RedisCluster {
  /** redis-cli runs under way (a reshard), stopped with the nodes. */
  private readonly tools = new Set<ChildProcess>();
  /** What `stop` does, done at once, for a run that ends without calling it. */
  private readonly stopOnExit = (): void => {
    for (const child of [...this.nodes.map((node) => node.process), ...this.tools]) child?.kill('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  };

  private constructor(
    private readonly nodes: ClusterNode[],
    private readonly dir: string,
  ) {
    process.on('exit', this.stopOnExit);
  }

  /** Starts six nodes, joins them into a cluster and waits until every node serves all slots and every replica has synced. */
  static async start(): Promise<RedisCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-cluster-'));
    const ports = await distinctFreePorts(MASTERS * (1 + REPLICAS_PER_MASTER) * 2);
    const nodes = Array.from({ length: ports.length / 2 }, (_, index): ClusterNode => ({
      port: ports[2 * index] as number,
      busPort: ports[2 * index + 1] as number,
      process: undefined,
    }));
    const cluster = new RedisCluster(nodes, dir);
    try {
      await Promise.all(nodes.map((node) => cluster.launch(node)));
      await cluster.redisCli([
        '--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', String(REPLICAS_PER_MASTER), '--cluster-yes',
      ]);
      await cluster.settled('the new cluster to serve every slot on every node');
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** `host:port` of every node, as REDIS_CLUSTER_NODES takes them. */
  get seedNodes(): string {
    return this.nodes.map((node) => `127.0.0.1:${node.port}`).join(',');
  }

  /** Ports of the nodes the cluster calls masters now, failed ones left out. */
  async masters(): Promise<number[]> {
    const views = await this.nodeViews();
    return views.filter((view) => view.flags.includes('master') && !isFailed(view)).map((view) => view.port).sort((a, b) => a - b);
  }

  /** Port of the master serving `slotOrKey` (a slot number, or a key whose slot the cluster works out). */
  async masterOf(slotOrKey: number | string): Promise<number> {
    const slot = typeof slotOrKey === 'number' ? slotOrKey : Number(await this.askAnyNode(['CLUSTER', 'KEYSLOT', slotOrKey]));
    const range = (await this.slotRanges(this.anyRunningPort())).find(({ start, end }) => start <= slot && slot <= end);
    if (!range) throw new Error(`no node serves slot ${slot}`);
    return range.master;
  }

  /** The slot ranges the master on `port` serves, lowest first, as a running node sees them. */
  async slotsOf(port: number): Promise<{ start: number; end: number }[]> {
    const ranges = await this.slotRanges(this.anyRunningPort());
    return ranges.filter(({ master }) => master === port).map(({ start, end }) => ({ start, end })).sort((a, b) => a.start - b.start);
  }

  /** Kills a master at once (SIGKILL), as a crash would; `waitForFailover` then waits for its replica to take over. */
  async killMaster(port: number): Promise<void> {
    if (!(await this.masters()).includes(port)) throw new Error(`127.0.0.1:${port} is not a master of the cluster`);
    await killed(this.node(port).process);
  }

  /** Waits until a replica serves every slot of the killed master and every running node says the cluster is ok again. */
  async waitForFailover(): Promise<void> {
    await this.settled('a replica to take over the killed master\'s slots');
  }

  /** Starts a killed node again on its port and waits until it has rejoined as a replica and synced. */
  async restart(port: number): Promise<void> {
    const node = this.node(port);
    if (isRunning(node.process)) throw new Error(`127.0.0.1:${port} is running`);
    await this.launch(node);
    await waitFor(`127.0.0.1:${port} to rejoin as a replica`, async () => {
      const myself = (await this.nodeViews(port)).find((view) => view.flags.includes('myself'));
      return myself?.flags.includes('slave');
    }, 30_000, 100);
    await this.settled(`the cluster to settle with 127.0.0.1:${port} back`);
  }

  /**
   * Moves `slots` slots, with their keys, from one master to another (redis-cli --cluster reshard),
   * and waits until every node agrees where they are. Jobs may run meanwhile: that is the point.
   */
  async reshard(fromPort: number, toPort: number, slots: number): Promise<void> {
    const [from, to] = await Promise.all([this.nodeId(fromPort), this.nodeId(toPort)]);
    await this.redisCli([
      '--cluster', 'reshard', `127.0.0.1:${fromPort}`, '--cluster-from', from, '--cluster-to', to, '--cluster-slots', String(slots), '--cluster-yes',
    ]);
    await this.settled(`every node to agree that ${slots} slots moved from 127.0.0.1:${fromPort} to 127.0.0.1:${toPort}`);
  }

  /** Stops every node and redis-cli run by PID and removes the nodes' files. */
  async stop(): Promise<void> {
    await Promise.all([...this.nodes.map((node) => killed(node.process)), ...[...this.tools].map(killed)]);
    process.off('exit', this.stopOnExit);
    await rm(this.dir, { recursive: true, force: true });
  }

  private async launch(node: ClusterNode): Promise<void> {
    node.process = spawn('redis-server', [
      '--port', String(node.port),
      // The bus port is the client port + 10000 unless named: past 55535 that is no port at all.
      '--cluster-port', String(node.busPort),
      '--bind', '127.0.0.1',
      '--save', '',
      '--appendonly', 'no',
      // A replica keeps what it synced in a file, and a node loads that file when it starts: each its own, in the cluster's folder.
      '--dir', this.dir,
      '--dbfilename', `dump-${node.port}.rdb`,
      '--cluster-enabled', 'yes',
      // Each node rewrites its file as the cluster changes: a restarted node finds in it who it was.
      '--cluster-config-file', `nodes-${node.port}.conf`,
      '--cluster-node-timeout', '1000',
      // A replica takes over however long its master has been gone, so a failover never waits on a human.
      '--cluster-replica-validity-factor', '0',
      // The topology changes only when a test changes it: no replica moves to a master left without one,
      // and a master resharded empty stays a master.
      '--cluster-allow-replica-migration', 'no',
    ], { stdio: 'ignore' });
    const pid = node.process.pid;
    await waitFor(`the cluster node on port ${node.port} to answer`, async () => {
      // Another program may have taken the port since it was found free: only this node's own answer counts.
      if (!isRunning(node.process)) throw new Error(`redis-server on port ${node.port} exited`);
      return fieldsOf(String(await this.ask(node.port, ['INFO', 'server']))).process_id === String(pid);
    }, 10_000, 50);
  }

  /**
   * Waits until every running node says the cluster is ok, knows every node, and agrees with the
   * others which running master serves each slot; and every running replica has synced.
   */
  private async settled(what: string): Promise<void> {
    await waitFor(what, async () => {
      const ports = this.runningPorts();
      const views = await Promise.all(ports.map(async (port) => {
        const info = fieldsOf(String(await this.ask(port, ['CLUSTER', 'INFO'])));
        const replication = fieldsOf(String(await this.ask(port, ['INFO', 'replication'])));
        const slots = (await this.slotRanges(port)).map(({ start, end, master }) => `${start}-${end}@${master}`).sort().join(' ');
        const ok = info.cluster_state === 'ok' && Number(info.cluster_slots_ok) === SLOT_COUNT && Number(info.cluster_known_nodes) === this.nodes.length;
        const synced = replication.role === 'master' || replication.master_link_status === 'up';
        return { ok, synced, slots };
      }));
      const slotMaps = new Set(views.map((view) => view.slots));
      const mastersRunning = [...slotMaps].every((map) => [...map.matchAll(/@(\d+)/g)].every(([, port]) => ports.includes(Number(port))));
      return views.every((view) => view.ok && view.synced) && slotMaps.size === 1 && mastersRunning;
    }, 30_000, 100);
  }

  /** The slot ranges a node says each master serves. */
  private async slotRanges(port: number): Promise<{ start: number; end: number; master: number }[]> {
    const reply = (await this.ask(port, ['CLUSTER', 'SLOTS'])) as [number, number, [string, number, ...unknown[]], ...unknown[]][];
    return reply.map(([start, end, [, master]]) => ({ start, end, master }));
  }

  /** What a node (any running one, unless named) says of every node. */
  private async nodeViews(port?: number): Promise<NodeView[]> {
    const reply = String(port === undefined ? await this.askAnyNode(['CLUSTER', 'NODES']) : await this.ask(port, ['CLUSTER', 'NODES']));
    return reply.trim().split('\n').map((line) => {
      const [id = '', address = '', flags = ''] = line.split(' ');
      return { id, port: Number(/:(\d+)@/.exec(address)?.[1]), flags: flags.split(',') };
    });
  }

  private async nodeId(port: number): Promise<string> {
    return String(await this.ask(port, ['CLUSTER', 'MYID']));
  }

  private node(port: number): ClusterNode {
    const node = this.nodes.find((candidate) => candidate.port === port);
    if (!node) throw new Error(`no node of the cluster listens on port ${port}`);
    return node;
  }

  private runningPorts(): number[] {
    return this.nodes.filter((node) => isRunning(node.process)).map((node) => node.port);
  }

  private anyRunningPort(): number {
    const [port] = this.runningPorts();
    if (port === undefined) throw new Error('no node of the cluster is running');
    return port;
  }

  private askAnyNode(command: string[]): Promise<unknown> {
    return this.ask(this.anyRunningPort(), command);
  }

  private ask(port: number, command: string[]): Promise<unknown> {
    return askRedis(port, command);
  }

  /** Runs redis-cli to its end; fails with what it printed when it fails. */
  private redisCli(args: string[]): Promise<void> {
    const child = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.tools.add(child);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => {
        this.tools.delete(child);
        if (code === 0) resolve();
        else reject(new Error(`redis-cli ${args.slice(0, 2).join(' ')} ended with ${signal ?? `exit code ${code}`}:\n${output.trim()}`));
      });
    });
  }
}

/** `count` free loopback ports, no two alike. */
async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

function isRunning(child: ChildProcess | undefined): child is ChildProcess {
  return child !== undefined && child.exitCode === null && child.signalCode === null;
}

function isFailed(view: NodeView): boolean {
  return view.flags.includes('fail') || view.flags.includes('fail?');
}

/** Kills a process by its PID (SIGKILL) and waits until it has exited. */
async function killed(child: ChildProcess | undefined): Promise<void> {
  if (!isRunning(child)) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** `field:value` lines (CLUSTER INFO, INFO) as an object. */
function fieldsOf(text: string): Record<string, string> {
  return Object.fromEntries(text.split(/\r?\n/).flatMap((line) => {
    const colon = line.indexOf(':');
    return colon > 0 ? [[line.slice(0, colon), line.slice(colon + 1).trim()]] : [];
  }));
}
