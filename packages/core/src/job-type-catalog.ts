import type { FlowLimits } from './flow-limits.js';
import { InvalidJobError, messageOf } from './errors.js';
import { catalogKeys, type CatalogKeys } from './keys.js';
import { QUEUE_NAME_PATTERN } from './limits.js';
import { silentLogger, type Logger } from './logger.js';
import { toRedisError } from './redis/client.js';
import { runScript, type ScriptedRedis } from './redis/scripts.js';
import { JobTypeRegistry, type JobTypeDefinition, type JobTypeLookup, type RegisteredJobType } from './registry.js';
import type { RetryPolicy } from './retry-policy.js';
import type { WorkerProcessReport } from './worker-processes.js';

/** How often a worker publishes what it serves; a publication also says the worker is live. */
export const PUBLISH_INTERVAL_MS = 5000;
/** A worker that has not published for this long is not live: no worker hands it jobs. */
export const PUBLICATION_LIVE_MS = 3 * PUBLISH_INTERVAL_MS;
/**
 * How long producers still accept the types of a worker that stopped, or stopped publishing: a queue
 * takes work while its workers restart or are down a while, and the jobs wait for them. Publications
 * silent this long are removed from Redis altogether.
 */
export const PUBLICATION_KEPT_MS = 10 * 60_000;

/** A job type as a worker publishes it: what a producer needs to validate and describe a submission. */
export interface PublishedJobType {
  name: string;
  description: string | null;
  /** The payload's JSON schema. */
  payloadSchema: unknown;
  retry: RetryPolicy;
  timeoutMs: number;
  /** Absent from the publications of workers of versions without limits. */
  limits?: FlowLimits;
}

/** What one worker publishes: the queues it reads and the job types it serves. */
export interface WorkerPublication {
  worker: string;
  queues: string[];
  /** When the worker started (ms): the newest worker's definition wins a conflict. */
  startedAt: number;
  /** The worker is stopping: producers still know its types, but no worker hands it jobs. */
  draining?: boolean;
  types: PublishedJobType[];
}

/** A publication as the catalog read it: whether its worker serves now (live and not stopping). */
interface KnownPublication extends WorkerPublication {
  serving: boolean;
}

/** One variant of a type's definition, and the live workers that publish it. */
export interface JobTypeVariant {
  workers: string[];
  description: string | null;
  payloadSchema: unknown;
  maxAttempts: number;
  timeoutMs: number;
  limits: FlowLimits;
}

/** A job type as the catalog knows it. */
export interface CatalogJobType {
  name: string;
  description: string | null;
  payloadSchema: unknown;
  maxAttempts: number;
  timeoutMs: number;
  limits: FlowLimits;
  /** Queues whose live workers serve the type. */
  queues: string[];
  /** Live workers that serve it. */
  workers: number;
  /** Declared to this process in its configuration, so it is known with no worker live. */
  declared: boolean;
  /** Every differing definition live workers publish, when there is more than one; empty otherwise. */
  conflicts: JobTypeVariant[];
}

/** The published form of a registered type. */
export function publishedType(type: RegisteredJobType): PublishedJobType {
  return {
    name: type.name,
    description: type.description ?? null,
    // The schema as JSON: TypeBox's own markers are symbols, which JSON leaves behind.
    payloadSchema: JSON.parse(JSON.stringify(type.payloadSchema)) as unknown,
    retry: type.retry,
    timeoutMs: type.timeoutMs,
    limits: type.limits,
  };
}

/** publishJobTypes: stores a worker's publication and its process report (see WorkerProcessReport), and marks it live. */
export async function publishJobTypes(redis: ScriptedRedis, prefix: string, worker: string, publication: WorkerPublication, report: WorkerProcessReport): Promise<void> {
  const keys = catalogKeys(prefix);
  await runScript(redis, 'publishJobTypes', [keys.publications, keys.seen, keys.version, keys.processes], [worker, JSON.stringify(publication), PUBLICATION_KEPT_MS, JSON.stringify(report)]);
}

/** Dependencies and settings of a `JobTypeCatalog`. */
export interface JobTypeCatalogOptions {
  redis: ScriptedRedis;
  prefix: string;
  /** Types known whether or not a worker publishes them (a producer that runs before any worker). They win a conflict. */
  declared?: readonly JobTypeDefinition[];
  /** How long the types of a worker that stopped publishing stay known. Default PUBLICATION_KEPT_MS (10 minutes). */
  knownForMs?: number;
  logger?: Logger;
}

/**
 * The job types workers publish to Redis, with any declared to this process: what a producer
 * validates submissions against. A type stays known for `knownForMs` after its last worker stopped
 * publishing; only live workers (PUBLICATION_LIVE_MS) serve, count as its workers and get jobs handed
 * on. It reads Redis only when the publications' version or the set of workers has changed, and
 * rebuilds (compiles the schemas) only then. A type published with differing definitions is a
 * conflict: declared wins, else the newest worker's.
 */
export class JobTypeCatalog implements JobTypeLookup {
  private readonly keys: CatalogKeys;
  private readonly logger: Logger;
  private readonly declared: readonly JobTypeDefinition[];
  private registry: JobTypeRegistry;
  private types: CatalogJobType[] = [];
  /** The queues live workers of each type read. */
  private servingQueues = new Map<string, Set<string>>();
  /** The queues known workers of each published, undeclared type read, live or not. */
  private queuesOfPublished = new Map<string, Set<string>>();
  private seenVersion: string | null = null;
  private seenWorkers = '';
  private refreshing: Promise<void> | undefined;
  private loop: NodeJS.Timeout | undefined;
  private rebuilds = 0;

  constructor(private readonly options: JobTypeCatalogOptions) {
    this.keys = catalogKeys(options.prefix);
    this.logger = options.logger ?? silentLogger;
    this.declared = options.declared ?? [];
    this.registry = new JobTypeRegistry(this.declared);
    this.types = this.registry.names().map((name) => declaredView(this.registry.get(name)));
  }

  /** Refreshes now, then every `intervalMs` until `stop`. A failed refresh keeps what was known. */
  async start(intervalMs = 1000): Promise<void> {
    await this.refresh().catch((error: unknown) => this.logger.warn({ err: messageOf(error) }, 'cannot read the published job types'));
    this.loop = setInterval(() => {
      this.refresh().catch((error: unknown) => this.logger.debug({ err: messageOf(error) }, 'cannot read the published job types'));
    }, intervalMs);
    this.loop.unref();
  }

  stop(): void {
    clearInterval(this.loop);
  }

  /** How many times what the catalog knows has changed: a reader can cache what it derives until this moves. */
  get generation(): number {
    return this.rebuilds;
  }

  /** Every known type, sorted by name. */
  list(): readonly CatalogJobType[] {
    return this.types;
  }

  /** Names of every known type, sorted. */
  names(): string[] {
    return this.registry.names();
  }

  get(name: string): RegisteredJobType {
    return this.registry.get(name);
  }

  /**
   * A job of a published type sent to a queue none of its workers read would wait there for nothing,
   * then be dead-lettered: refused instead, naming the queues that are read. A declared type may go
   * to any queue.
   */
  assertOnQueue(type: string, queue: string, field: string): void {
    const queues = this.queuesOfPublished.get(type);
    if (!queues || queues.has(queue)) return;
    const list = [...queues].sort();
    throw new InvalidJobError(
      `Job type "${type}" is served on ${list.length === 1 ? 'queue' : 'queues'} ${list.join(', ')}, not "${queue}": set ${field} to ${list.length === 1 ? `"${list[0]}"` : 'one of them'}.`,
      'TYPE_NOT_ON_QUEUE',
    );
  }

  /** Types some live worker serves for `queue`. */
  servedIn(queue: string): ReadonlySet<string> {
    return new Set([...this.servingQueues].filter(([, queues]) => queues.has(queue)).map(([name]) => name));
  }

  /**
   * A submission names a type not known yet: its worker may have just started, so look again. That
   * costs two small reads (concurrent lookups share them); only a change is rebuilt. Throws
   * `RedisUnavailableError` when Redis cannot be read.
   */
  async learn(names: readonly string[]): Promise<void> {
    if (names.every((name) => this.registry.find(name))) return;
    try {
      await this.refresh();
    } catch (error) {
      // Without Redis no one can tell whether a worker serves these types, and no job could be added anyway: a 503, not a 400.
      throw toRedisError(error);
    }
  }

  /** Reads the publications of live workers and rebuilds when they changed. Concurrent calls share one read. */
  refresh(): Promise<void> {
    this.refreshing ??= this.read().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async read(): Promise<void> {
    const { redis } = this.options;
    const [version, ...flat] = (await runScript(redis, 'livePublishers', [this.keys.seen, this.keys.version], [
      PUBLICATION_LIVE_MS, this.options.knownForMs ?? PUBLICATION_KEPT_MS,
    ])) as [string | null, ...(string | number)[]];
    const known: { worker: string; live: boolean }[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) known.push({ worker: String(flat[i]), live: Number(flat[i + 1]) === 1 });
    const workers = known.map(({ worker, live }) => `${worker}:${live}`).sort().join('\n');
    if (version === this.seenVersion && workers === this.seenWorkers) return;
    const raw = known.length > 0 ? await redis.hmget(this.keys.publications, ...known.map(({ worker }) => worker)) : [];
    const publications = raw.flatMap((json, index) => this.parse(json, known[index]?.worker ?? '', known[index]?.live ?? false));
    this.rebuild(publications);
    this.seenVersion = version;
    this.seenWorkers = workers;
  }

  /**
   * A publication as far as it can be used: anything may have written Redis (another build of Sluice
   * during an upgrade, say), so each type entry is checked on its own and a bad one is left out with
   * a warning; one bad entry must not stop a catalog, nor the workers that read one.
   */
  private parse(json: string | null, worker: string, live: boolean): KnownPublication[] {
    if (json === null) return [];
    let publication: Partial<WorkerPublication>;
    try {
      publication = JSON.parse(json) as Partial<WorkerPublication>;
    } catch (error) {
      this.logger.warn({ worker, err: messageOf(error) }, 'ignoring an unreadable job type publication');
      return [];
    }
    if (publication === null || typeof publication !== 'object' || !Array.isArray(publication.types) || !Array.isArray(publication.queues)) {
      this.logger.warn({ worker }, 'ignoring a job type publication without types and queues');
      return [];
    }
    const types = publication.types.filter((type: unknown) => {
      const usable = isUsableType(type);
      if (!usable) this.logger.warn({ worker, jobType: (type as { name?: unknown } | null)?.name }, 'ignoring a malformed job type in a publication');
      return usable;
    });
    const queues = publication.queues.filter((queue: unknown): queue is string => typeof queue === 'string' && QUEUE_NAME_PATTERN.test(queue));
    return [{ worker, queues, startedAt: Number(publication.startedAt) || 0, serving: live && publication.draining !== true, types }];
  }

  /**
   * Every differing definition of a type, when there is more than one: those live workers publish,
   * and the declared one (with no workers) when it differs from what they publish. Submissions are
   * checked against the declared one, which is easy to miss: it is also logged.
   */
  private conflictsOf(name: string, declared: boolean, published: readonly { type: PublishedJobType; workers: string[] }[]): JobTypeVariant[] {
    const variants = published.map(({ type, workers }) => ({ workers, ...summaryOf(type) }));
    if (declared && published.length > 0) {
      const own = publishedType(this.registry.get(name));
      if (published.some(({ type }) => fingerprintOf(type) !== fingerprintOf(own))) {
        this.logger.warn({ jobType: name, workers: published.flatMap(({ workers }) => workers) }, `job type "${name}" is declared (JOB_TYPES_FILE) differently from how live workers define it; submissions are checked against the declared definition`);
        return [{ workers: [], ...summaryOf(own) }, ...variants];
      }
    }
    return variants.length > 1 ? variants : [];
  }

  private rebuild(publications: readonly KnownPublication[]): void {
    // Newest first: the first variant met of each type is the one that wins a conflict.
    const newestFirst = [...publications].sort((a, b) => b.startedAt - a.startedAt);
    const variants = new Map<string, Map<string, { type: PublishedJobType; workers: string[] }>>();
    const servingQueues = new Map<string, Set<string>>();
    // The types of a worker that is stopping, stopped or silent stay known to producers, but it serves nothing.
    const knownOnly = new Map<string, PublishedJobType>();
    const queuesOfPublished = new Map<string, Set<string>>();
    for (const publication of newestFirst) {
      for (const type of publication.types) {
        if (!publication.serving && !knownOnly.has(type.name)) knownOnly.set(type.name, type);
        const queues = queuesOfPublished.get(type.name) ?? new Set<string>();
        queuesOfPublished.set(type.name, queues);
        for (const queue of publication.queues) queues.add(queue);
      }
    }
    for (const publication of newestFirst.filter((candidate) => candidate.serving)) {
      for (const type of publication.types) {
        knownOnly.delete(type.name);
        const byFingerprint = variants.get(type.name) ?? new Map<string, { type: PublishedJobType; workers: string[] }>();
        variants.set(type.name, byFingerprint);
        const fingerprint = fingerprintOf(type);
        const variant = byFingerprint.get(fingerprint) ?? { type, workers: [] };
        variant.workers.push(publication.worker);
        byFingerprint.set(fingerprint, variant);
        const queues = servingQueues.get(type.name) ?? new Set<string>();
        servingQueues.set(type.name, queues);
        for (const queue of publication.queues) queues.add(queue);
      }
    }

    const declaredNames = new Set(this.declared.map((definition) => definition.name));
    const definitions: JobTypeDefinition[] = [...this.declared];
    for (const [name, byFingerprint] of variants) {
      const winner = [...byFingerprint.values()][0];
      if (!declaredNames.has(name) && winner) definitions.push(definitionOf(winner.type));
    }
    for (const [name, type] of knownOnly) if (!declaredNames.has(name)) definitions.push(definitionOf(type));
    this.registry = new JobTypeRegistry(definitions, (definition, error) =>
      this.logger.warn({ jobType: definition.name, err: messageOf(error) }, 'ignoring a published job type whose payload schema does not compile'),
    );
    this.servingQueues = servingQueues;
    for (const name of declaredNames) queuesOfPublished.delete(name);
    this.queuesOfPublished = queuesOfPublished;
    this.rebuilds += 1;
    this.types = this.registry.names().map((name): CatalogJobType => {
      const type = this.registry.get(name);
      const published = [...(variants.get(name)?.values() ?? [])];
      return {
        ...declaredView(type),
        queues: [...(servingQueues.get(name) ?? [])].sort(),
        workers: published.reduce((sum, variant) => sum + variant.workers.length, 0),
        declared: declaredNames.has(name),
        conflicts: this.conflictsOf(name, declaredNames.has(name), published),
      };
    });
  }
}

/** The fingerprint of a definition: two publications of a type conflict when theirs differ. */
function fingerprintOf(type: PublishedJobType): string {
  return JSON.stringify([type.payloadSchema, type.retry, type.timeoutMs, type.description]);
}

/** A published type the catalog can use: a valid name (it ends up in the workers' script arguments), a schema object, a policy and a timeout. */
function isUsableType(type: unknown): type is PublishedJobType {
  if (type === null || typeof type !== 'object') return false;
  const { name, payloadSchema, retry, timeoutMs, description } = type as Record<string, unknown>;
  return typeof name === 'string' && QUEUE_NAME_PATTERN.test(name) && payloadSchema !== null && typeof payloadSchema === 'object'
    && retry !== null && typeof retry === 'object' && typeof timeoutMs === 'number' && (description === null || typeof description === 'string');
}

function definitionOf(type: PublishedJobType): JobTypeDefinition {
  return {
    name: type.name,
    ...(type.description !== null && { description: type.description }),
    payload: type.payloadSchema as JobTypeDefinition['payload'],
    retry: type.retry,
    timeoutMs: type.timeoutMs,
    ...(type.limits !== undefined && { limits: type.limits }),
  };
}

function summaryOf(type: PublishedJobType): Omit<JobTypeVariant, 'workers'> {
  return { description: type.description, payloadSchema: type.payloadSchema, maxAttempts: type.retry.maxAttempts, timeoutMs: type.timeoutMs, limits: type.limits ?? {} };
}

function declaredView(type: RegisteredJobType): CatalogJobType {
  const published = publishedType(type);
  return { ...summaryOf(published), name: type.name, queues: [], workers: 0, declared: true, conflicts: [] };
}
