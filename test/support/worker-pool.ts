import { ServiceProcess } from './processes';

/** What a `WorkerPool` runs, and how often it may replace a dead process. */
export interface WorkerPoolOptions {
  /** The worker script, relative to the repository root. */
  file: string;
  env: Record<string, string>;
  size: number;
  /** Start of every process's name, which is also its WORKER_NAME: `<name>-<slot>-<generation>`. */
  name: string;
  /** Replacements started in all; a test whose workers keep dying must still come to an end. */
  maxRestarts: number;
}

/**
 * A fixed number of worker processes, each replaced as soon as it dies. A replacement gets a
 * consumer name of its own, so the entries a dead process left pending stay countable under its
 * name until another worker reclaims them.
 */
export class WorkerPool {
  /** Every process started, replacements included, oldest first. */
  readonly started: ServiceProcess[] = [];
  private readonly current: ServiceProcess[] = [];
  private readonly generations: number[] = [];
  private restartCount = 0;
  private stopping = false;

  constructor(private readonly options: WorkerPoolOptions) {}

  /** Starts one process per slot. */
  start(): void {
    for (let slot = 0; slot < this.options.size; slot += 1) this.launch(slot);
  }

  /** The process now serving `slot`. */
  worker(slot: number): ServiceProcess {
    const service = this.current[slot];
    if (!service) throw new Error(`no worker in slot ${slot}; call start() first`);
    return service;
  }

  /** Resolves once every current process has printed `worker started`. */
  async ready(timeoutMs = 30_000): Promise<void> {
    await Promise.all(this.current.map((service) => service.waitForOutput('worker started', timeoutMs)));
  }

  /** Kills the process in `slot` with SIGKILL and resolves once it is dead; its replacement is already starting then. */
  async kill(slot: number): Promise<ServiceProcess> {
    const victim = this.worker(slot);
    await victim.stop('SIGKILL');
    return victim;
  }

  /** Stops replacing, then stops every live process (SIGTERM, SIGKILL past `timeoutMs`). Returns their exit codes. */
  async stop(timeoutMs = 15_000): Promise<(number | null)[]> {
    this.stopping = true;
    return Promise.all(this.current.map((service) => service.stop('SIGTERM', timeoutMs)));
  }

  private launch(slot: number): void {
    const generation = (this.generations[slot] ?? 0) + 1;
    this.generations[slot] = generation;
    const name = `${this.options.name}-${slot}-${generation}`;
    const service = ServiceProcess.start(name, this.options.file, { ...this.options.env, WORKER_NAME: name });
    this.current[slot] = service;
    this.started.push(service);
    service.child.once('exit', () => {
      if (this.stopping || this.restartCount >= this.options.maxRestarts) return;
      this.restartCount += 1;
      this.launch(slot);
    });
  }
}
