import type { ChildProcess } from 'node:child_process';

/** A long-running process to keep up: its name in the log, and how to start one instance of it. */
export interface Service {
  name: string;
  spawn(): ChildProcess;
}

/** How long a service that exited waits before it starts again. */
export interface RestartBackoff {
  /** Wait before the first restart in a row; each further restart in a row doubles it. */
  initialMs: number;
  /** The longest wait. */
  maxMs: number;
  /** A process that ran this long before it exited was healthy: its next restart waits `initialMs` again. */
  resetAfterMs: number;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Slot {
  readonly service: Service;
  /** The running process, until it has exited. */
  current?: { child: ChildProcess; exited: Promise<Exit> };
  startedAt: number;
  /** Restarts since the service started, for the log. */
  restarts: number;
  /** Restarts since it last ran healthily, which set the wait. */
  restartsInARow: number;
  restartTimer?: NodeJS.Timeout;
}

/**
 * Keeps services running: a process that exits without being asked to, crashed or not, is started
 * again after a wait that doubles with each restart in a row, while the others run on untouched.
 * `stop` asks every process to exit (SIGTERM) and restarts nothing more; `kill` ends them at once.
 */
export class Supervisor {
  private readonly slots: Slot[];
  private stopping = false;

  constructor(
    services: readonly Service[],
    private readonly backoff: RestartBackoff,
    private readonly log: (message: string) => void,
  ) {
    this.slots = services.map((service) => ({ service, startedAt: 0, restarts: 0, restartsInARow: 0 }));
  }

  start(): void {
    for (const slot of this.slots) this.launch(slot);
  }

  /** How many processes are running now; one waiting to restart is not. */
  get runningCount(): number {
    return this.running().length;
  }

  /** Sends SIGTERM to every process and resolves once all have exited: true when every one stopped cleanly. */
  async stop(): Promise<boolean> {
    this.stopping = true;
    for (const slot of this.slots) clearTimeout(slot.restartTimer);
    const running = this.running();
    for (const { child } of running) child.kill('SIGTERM');
    const exits = await Promise.all(running.map(({ exited }) => exited));
    return exits.every(stoppedCleanly);
  }

  /** Sends SIGKILL to every process and resolves once all are gone, so none outlives this one. */
  async kill(): Promise<void> {
    this.stopping = true;
    for (const slot of this.slots) clearTimeout(slot.restartTimer);
    const running = this.running();
    for (const { child } of running) child.kill('SIGKILL');
    await Promise.all(running.map(({ exited }) => exited));
  }

  private running(): NonNullable<Slot['current']>[] {
    return this.slots.flatMap((slot) => (slot.current ? [slot.current] : []));
  }

  private launch(slot: Slot): void {
    const { name } = slot.service;
    const child = slot.service.spawn();
    slot.startedAt = Date.now();
    // Without a listener a failed spawn would throw here; 'close' follows it and schedules the restart.
    child.on('error', (error) => this.log(`${name}: ${error.message}`));
    if (child.pid !== undefined) this.log(`${name} started (pid ${child.pid})`);
    // 'close' rather than 'exit': by then the process's last lines have been read and printed.
    const exited = new Promise<Exit>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
    slot.current = { child, exited };
    void exited.then((exit) => this.onExit(slot, exit));
  }

  private onExit(slot: Slot, exit: Exit): void {
    const { name } = slot.service;
    slot.current = undefined;
    if (this.stopping) {
      this.log(stoppedCleanly(exit) ? `${name} stopped` : `${name} ${describe(exit)}`);
      return;
    }
    if (Date.now() - slot.startedAt >= this.backoff.resetAfterMs) slot.restartsInARow = 0;
    const delayMs = Math.min(this.backoff.initialMs * 2 ** slot.restartsInARow, this.backoff.maxMs);
    slot.restartsInARow += 1;
    slot.restarts += 1;
    // A clean exit nobody asked for is a process recycling itself, not a crash, but it comes back all the same.
    const what = exit.code === 0 ? `${name} exited with code 0 on its own` : `${name} ${describe(exit)}`;
    this.log(`${what}; restarting in ${duration(delayMs)} (restart ${slot.restarts})`);
    slot.restartTimer = setTimeout(() => this.launch(slot), delayMs);
  }
}

/**
 * Exit code 0, or ended by the SIGTERM it was sent: a process that was still starting has not yet
 * installed its handler, and has no work to lose.
 */
function stoppedCleanly(exit: Exit): boolean {
  return exit.code === 0 || exit.signal === 'SIGTERM';
}

function describe({ code, signal }: Exit): string {
  return signal ? `exited (${signal})` : `exited with code ${code}`;
}

/** `500 ms`, `1 s`, `1.5 s`: how the log and the messages of `npm start` write a duration. */
export function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Number((ms / 1000).toFixed(1))} s`;
}
