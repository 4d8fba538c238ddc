import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './context';
import { askRedis, freePort, RedisServer } from './redis-server';

/** The name the sentinels give the master they watch. */
export const SENTINEL_MASTER = 'sluice-test';

/**
 * A master, a replica and three sentinels on loopback ports of a test's own: the smallest setup that
 * fails over by itself (a quorum of two sentinels). Stopped by PID.
 */
export class SentinelGroup {
  private constructor(
    readonly master: RedisServer,
    readonly replica: RedisServer,
    readonly sentinelPorts: number[],
    private readonly sentinels: ChildProcess[],
    private readonly dir: string,
  ) {}

  /** Starts the group and waits until every sentinel knows the master and its replica. */
  static async start(): Promise<SentinelGroup> {
    // Loaded straight from the master's socket: a replica's sync would otherwise leave dump.rdb in the
    // working directory. The master too, for when it is restarted and rejoins as the new master's replica.
    const disklessLoad = ['--repl-diskless-load', 'on-empty-db'];
    const master = await RedisServer.start(disklessLoad);
    const replica = await RedisServer.start(['--replicaof', '127.0.0.1', String(master.port), ...disklessLoad]);
    const dir = await mkdtemp(join(tmpdir(), 'sluice-sentinels-'));
    const ports = [await freePort(), await freePort(), await freePort()];
    const sentinels: ChildProcess[] = [];
    for (const port of ports) {
      // A sentinel rewrites its file as it learns the topology: each gets one of its own.
      const file = join(dir, `sentinel-${port}.conf`);
      await writeFile(file, [
        `port ${port}`,
        'bind 127.0.0.1',
        `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${master.port} 2`,
        `sentinel down-after-milliseconds ${SENTINEL_MASTER} 1000`,
        `sentinel failover-timeout ${SENTINEL_MASTER} 10000`,
        '',
      ].join('\n'));
      sentinels.push(spawn('redis-server', [file, '--sentinel'], { stdio: 'ignore' }));
    }
    const group = new SentinelGroup(master, replica, ports, sentinels, dir);
    await waitFor('every sentinel to know the master, its replica and the other sentinels', async () => {
      const views = await Promise.all(ports.map((port) => group.ask(port, ['SENTINEL', 'MASTER', SENTINEL_MASTER]).catch(() => null)));
      return views.every((view) => {
        const fields = fieldsOf(view);
        return fields['num-slaves'] === '1' && fields['num-other-sentinels'] === '2';
      });
    }, 30_000, 100);
    return group;
  }

  /** `host:port` of each sentinel, as REDIS_SENTINELS takes them. */
  get addresses(): string {
    return this.sentinelPorts.map((port) => `127.0.0.1:${port}`).join(',');
  }

  /** The port of the node the sentinels call master now. */
  async masterPort(): Promise<number> {
    const [, port] = (await this.ask(this.sentinelPorts[0] ?? 0, ['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', SENTINEL_MASTER])) as [string, string];
    return Number(port);
  }

  /**
   * Starts a killed node again as a replica of the master the sentinels name now, as a supervisor
   * that asks them does, and waits until it has synced. Left to restart as a master, it would wait
   * for the sentinels to demote it, which they do only after it has claimed the role for some
   * seconds and they next read its INFO (up to 10 s apart).
   */
  async rejoin(server: RedisServer): Promise<void> {
    const master = await this.masterPort();
    if (master === server.port) throw new Error(`127.0.0.1:${server.port} is still the master the sentinels name`);
    await server.start();
    await this.ask(server.port, ['REPLICAOF', '127.0.0.1', String(master)]);
    // The master the sentinels name is read again each time: on a loaded machine they may fail over
    // once more meanwhile, and the node then follows the new master, as a supervisor would make it.
    let last: Record<string, string> = {};
    await waitFor(`127.0.0.1:${server.port} to sync as a replica of the master the sentinels name`, async () => {
      const current = await this.masterPort();
      last = Object.fromEntries(String(await this.ask(server.port, ['INFO', 'replication'])).split(/\r?\n/).map((line) => line.split(':')));
      if (current === server.port) throw new Error(`the sentinels made 127.0.0.1:${server.port} the master again`);
      if (last.master_port !== String(current)) await this.ask(server.port, ['REPLICAOF', '127.0.0.1', String(current)]);
      return last.master_port === String(current) && last.master_link_status === 'up';
    }, 60_000, 100).catch((error: unknown) => {
      throw new Error(`${error instanceof Error ? error.message : String(error)}; its replication: ${JSON.stringify(last)}`);
    });
  }

  async stop(): Promise<void> {
    await Promise.all(this.sentinels.map((sentinel) => new Promise<void>((resolve) => {
      if (sentinel.exitCode !== null || sentinel.signalCode !== null) return resolve();
      sentinel.once('exit', () => resolve());
      sentinel.kill('SIGKILL');
    })));
    await this.master.stop();
    await this.replica.stop();
    await rm(this.dir, { recursive: true, force: true });
  }

  private ask(port: number, command: string[]): Promise<unknown> {
    return askRedis(port, command);
  }
}

/** A flat [field, value, …] reply as an object. */
function fieldsOf(reply: unknown): Record<string, string> {
  const list = Array.isArray(reply) ? (reply as string[]) : [];
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) fields[String(list[i])] = String(list[i + 1]);
  return fields;
}
