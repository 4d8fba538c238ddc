import { setTimeout as sleep } from 'node:timers/promises';
import type { ServiceProcess } from '../support/processes';
import type { RedisServer } from '../support/redis-server';
import type { SeededRandom } from '../support/seeded-random';
import type { SlowLink } from '../support/slow-link';
import type { TcpProxy } from '../support/tcp-proxy';
import type { WorkerPool } from '../support/worker-pool';

export type FaultKind = 'kill-worker' | 'stop-worker' | 'term-worker' | 'redis-restart' | 'postgres-outage';

/** One fault of the schedule, drawn before the run starts. */
export interface FaultPlan {
  /** When it starts, in ms from the start of the run. */
  atMs: number;
  kind: FaultKind;
  /** The worker slot, for worker faults. */
  slot: number;
  /** How long the worker stays stopped, Redis down, or PostgreSQL cut off. */
  downMs: number;
  /** PostgreSQL only: how long it then stays slow, and by how much per chunk each way. */
  slowMs: number;
  latencyMs: number;
}

/** When a fault was under way, as the checks need it: what may legitimately fail meanwhile. Times are Date.now(). */
export interface FaultWindow {
  kind: FaultKind;
  target: string;
  startedAt: number;
  endedAt: number;
}

const WORKER_FAULTS = [['kill-worker', 30], ['stop-worker', 45], ['term-worker', 25]] as const;
const SERVICE_FAULTS = [['redis-restart', 45], ['postgres-outage', 55]] as const;

/** A run's faults in two tracks that run side by side, each one fault at a time: worker faults, and Redis and PostgreSQL outages. */
export interface FaultSchedule {
  workers: FaultPlan[];
  services: FaultPlan[];
}

/** Faults of `weights`' kinds, each after a quiet gap of `gapMs`, none running past `durationMs`. */
function planTrack(
  rng: SeededRandom,
  weights: readonly (readonly [FaultKind, number])[],
  gapMs: readonly [number, number],
  durationMs: number,
  shape: (plan: FaultPlan) => void,
): FaultPlan[] {
  const plans: FaultPlan[] = [];
  for (let at = rng.int(...gapMs); ;) {
    const plan: FaultPlan = { atMs: at, kind: rng.weighted(weights), slot: 0, downMs: 0, slowMs: 0, latencyMs: 0 };
    shape(plan);
    const end = at + plan.downMs + plan.slowMs;
    if (end > durationMs - 1000) return plans;
    plans.push(plan);
    at = end + rng.int(...gapMs);
  }
}

/**
 * Draws the fault schedule of a run of `durationMs`. The tracks overlap, so a worker may be
 * stopped or terminated while Redis or PostgreSQL is away. A stop lasts longer than
 * `visibilityTimeoutMs`, so that others take the stopped worker's jobs over and it wakes up stale;
 * some outages outlast every timeout of the processes.
 */
export function planFaults(rng: SeededRandom, durationMs: number, workers: number, visibilityTimeoutMs: number): FaultSchedule {
  const workerRandom = rng.fork('worker faults');
  const serviceRandom = rng.fork('service faults');
  return {
    workers: planTrack(workerRandom, WORKER_FAULTS, [1500, 6000], durationMs, (plan) => {
      plan.slot = workerRandom.int(0, workers - 1);
      // Most stops end soon after the takeover, while the new attempt still runs: when a stale outcome could do harm.
      if (plan.kind === 'stop-worker') plan.downMs = visibilityTimeoutMs + (workerRandom.chance(0.6) ? workerRandom.int(300, 1200) : workerRandom.int(1200, 3500));
    }),
    services: planTrack(serviceRandom, SERVICE_FAULTS, [3000, 10_000], durationMs, (plan) => {
      plan.downMs = serviceRandom.chance(0.2) ? serviceRandom.int(6000, 12_000) : serviceRandom.int(300, 4000);
      if (plan.kind === 'postgres-outage') Object.assign(plan, { slowMs: serviceRandom.int(1000, 6000), latencyMs: serviceRandom.int(50, 600) });
    }),
  };
}

/** What the faults act on. */
export interface FaultTargets {
  pool: WorkerPool;
  redis: RedisServer;
  /** Cuts PostgreSQL off. */
  proxy: TcpProxy;
  /** Slows PostgreSQL down. */
  slowLink: SlowLink;
  /** Longest a worker may take to stop after SIGTERM: its SHUTDOWN_TIMEOUT_MS and then some. */
  termBoundMs: number;
  /** Whether the worker called `name` holds jobs now. */
  busy: (name: string) => Promise<boolean>;
  log: (line: string) => void;
}

/** A worker's exit after the soak's SIGTERM. */
export interface TermExit {
  name: string;
  code: number | null;
  signal: NodeJS.Signals | null;
  tookMs: number;
}

/** Runs a fault schedule against the live system, recording when each fault was under way. */
export class FaultRunner {
  readonly windows: FaultWindow[] = [];
  readonly termExits: TermExit[] = [];
  /** Worker processes the soak itself signalled to end (SIGKILL or SIGTERM). */
  readonly signalled = new Set<ServiceProcess>();
  readonly skipped: string[] = [];
  private readonly frozen = new Set<ServiceProcess>();
  private redisDown = false;
  private runStartedAt = 0;

  constructor(private readonly targets: FaultTargets) {}

  /** Runs both tracks of `schedule`, each fault at its time from `startedAt`, until `signal` aborts; restores everything before returning. */
  async run(schedule: FaultSchedule, startedAt: number, signal: AbortSignal): Promise<void> {
    this.runStartedAt = startedAt;
    try {
      await Promise.all([this.runTrack(schedule.workers, signal), this.runTrack(schedule.services, signal)]);
    } finally {
      await this.restore();
    }
  }

  private async runTrack(plans: readonly FaultPlan[], signal: AbortSignal): Promise<void> {
    for (const plan of plans) {
      const wait = this.runStartedAt + plan.atMs - Date.now();
      if (wait > 0) await sleep(wait, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) return;
      await this.inject(plan);
    }
  }

  /** Undoes whatever fault is under way: thaws workers, reconnects and speeds up PostgreSQL, starts Redis. */
  async restore(): Promise<void> {
    for (const service of this.frozen) service.child.kill('SIGCONT');
    this.frozen.clear();
    this.targets.proxy.restore();
    this.targets.slowLink.setLatency(0);
    if (this.redisDown) {
      await this.targets.redis.start();
      this.redisDown = false;
    }
  }

  private async inject(plan: FaultPlan): Promise<void> {
    let startedAt = Date.now();
    let target = plan.kind === 'redis-restart' ? 'redis' : 'postgres';
    if (plan.kind === 'kill-worker' || plan.kind === 'stop-worker' || plan.kind === 'term-worker') {
      const victim = await this.victim(plan);
      if (!victim) return;
      target = victim.name;
      startedAt = Date.now();
      await this.hitWorker(plan, victim, startedAt);
    } else if (plan.kind === 'redis-restart') {
      this.redisDown = true;
      await this.targets.redis.kill();
      await sleep(plan.downMs);
      await this.targets.redis.start();
      this.redisDown = false;
    } else {
      this.targets.proxy.cut();
      await sleep(plan.downMs);
      this.targets.proxy.restore();
      this.targets.slowLink.setLatency(plan.latencyMs);
      await sleep(plan.slowMs);
      this.targets.slowLink.setLatency(0);
    }
    const window = { kind: plan.kind, target, startedAt, endedAt: Date.now() };
    this.windows.push(window);
    const extra = plan.kind === 'postgres-outage' ? ` (cut ${plan.downMs} ms, then ${plan.latencyMs} ms slower for ${plan.slowMs} ms)` : '';
    this.targets.log(`fault ${this.windows.length}: ${plan.kind} ${target} at +${((startedAt - this.runStartedAt) / 1000).toFixed(1)} s, ${window.endedAt - startedAt} ms${extra}`);
  }

  /** The worker a plan aims at, once it serves and holds jobs (or 2 s have passed); none if it never serves or has exited. */
  private async victim(plan: FaultPlan): Promise<ServiceProcess | undefined> {
    const victim = this.targets.pool.worker(plan.slot);
    // A process not yet serving (still starting after the last fault) is not what these faults are about.
    try {
      await victim.waitForOutput('worker started', 15_000);
    } catch {
      this.skipped.push(`${plan.kind} ${victim.name}: not serving`);
      return undefined;
    }
    // Mid-batch, when it can be: a worker holding nothing has nothing to lose, hand back or be taken over.
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline && !(await this.targets.busy(victim.name).catch(() => false))) await sleep(50);
    // One that exited meanwhile (recycled, or died) is not the soak's to end: its exit is judged as it is.
    if (victim.child.exitCode !== null || victim.child.signalCode !== null) {
      this.skipped.push(`${plan.kind} ${victim.name}: exited before it`);
      return undefined;
    }
    return victim;
  }

  /** Signals the victim itself, not whatever serves its slot now: it may have exited (recycled) and been replaced meanwhile. */
  private async hitWorker(plan: FaultPlan, victim: ServiceProcess, startedAt: number): Promise<void> {
    if (plan.kind === 'kill-worker') {
      this.signalled.add(victim);
      await victim.stop('SIGKILL');
    } else if (plan.kind === 'term-worker') {
      this.signalled.add(victim);
      // Killed only well past the bound, so that the time it really took is what gets reported.
      const code = await victim.stop('SIGTERM', this.targets.termBoundMs + 10_000);
      this.termExits.push({ name: victim.name, code, signal: victim.child.signalCode, tookMs: Date.now() - startedAt });
    } else {
      victim.child.kill('SIGSTOP');
      this.frozen.add(victim);
      await sleep(plan.downMs);
      victim.child.kill('SIGCONT');
      this.frozen.delete(victim);
    }
  }
}
