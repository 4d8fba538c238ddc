import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule, { type FormatsPlugin } from 'ajv-formats';
import type { Static, TSchema } from 'typebox';
import { InvalidJobError } from './errors.js';
import { flowLimitsProblems, type FlowLimits } from './flow-limits.js';
import { MAX_ATTEMPTS, MAX_DELAY_MS, MIN_ATTEMPTS, QUEUE_NAME_PATTERN } from './limits.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry-policy.js';

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
const addFormats = (addFormatsModule as unknown as { default?: FormatsPlugin }).default ?? (addFormatsModule as unknown as FormatsPlugin);

/** Default time a handler gets for one attempt. */
export const DEFAULT_JOB_TIMEOUT_MS = 60_000;
/** Longest time an attempt may be given: a day. */
export const MAX_JOB_TIMEOUT_MS = 24 * 3_600_000;

/** A job type as declared once: its name, payload schema, retry policy and timeout. */
export interface JobTypeDefinition<S extends TSchema = TSchema> {
  /** Unique name, `[A-Za-z0-9_.:-]{1,64}`. */
  name: string;
  /** JSON schema (TypeBox) every payload must satisfy. */
  payload: S;
  /** Overrides of the default retry policy. */
  retry?: Partial<RetryPolicy>;
  /** Time one attempt may take before it is aborted and counted as failed. Default 60 s. */
  timeoutMs?: number;
  /** One sentence for people reading the API docs. */
  description?: string;
  /** Rate limit and concurrency cap of the type's jobs, across every worker of a queue (see FlowLimits). */
  limits?: FlowLimits;
}

/** Declares a job type, keeping the payload schema's static type for its handler. */
export function defineJobType<S extends TSchema>(definition: JobTypeDefinition<S>): JobTypeDefinition<S> {
  return definition;
}

/** The payload type a definition's schema describes. */
export type PayloadOf<D> = D extends JobTypeDefinition<infer S> ? Static<S> : never;

/** A registered type, with its policy filled in and its schema compiled. */
export interface RegisteredJobType {
  name: string;
  description: string | undefined;
  payloadSchema: TSchema;
  retry: RetryPolicy;
  timeoutMs: number;
  /** Empty when the type's jobs start freely. */
  limits: FlowLimits;
  validate: ValidateFunction;
}

/** Where a producer looks job types up: a fixed registry, or a catalog of what live workers publish. */
export interface JobTypeLookup {
  /** The type called `name`, or an `InvalidJobError` (UNKNOWN_JOB_TYPE) that lists the known ones. */
  get(name: string): RegisteredJobType;
  /** Lets a lookup that can learn types (a catalog) look for those of `names` it does not know yet. */
  learn?(names: readonly string[]): Promise<void>;
  /** Refuses (TYPE_NOT_ON_QUEUE) a job of `type` for a queue no worker of the type reads, when the lookup knows where they read. */
  assertOnQueue?(type: string, queue: string, field: string): void;
}

/** A set of job types, their schemas compiled: a worker runs from one, and a producer may validate against one. */
export class JobTypeRegistry implements JobTypeLookup {
  private readonly types = new Map<string, RegisteredJobType>();

  /**
   * Throws when a name is declared twice or a schema does not compile, unless `onInvalid` is given:
   * then such a definition is left out and reported to it (types published by others must not stop a producer).
   */
  constructor(definitions: readonly JobTypeDefinition[], onInvalid?: (definition: JobTypeDefinition, error: unknown) => void) {
    for (const definition of definitions) {
      try {
        this.register(definition);
      } catch (error) {
        if (!onInvalid) throw error;
        onInvalid(definition, error);
      }
    }
  }

  private register(definition: JobTypeDefinition): void {
    // Workers pass the names they serve to their scripts as a comma-joined list: the pattern keeps that unambiguous.
    if (typeof definition.name !== 'string' || !QUEUE_NAME_PATTERN.test(definition.name)) {
      throw new Error(`Job type name ${JSON.stringify(definition.name)} must be 1-64 letters, digits and _.:-`);
    }
    if (this.types.has(definition.name)) throw new Error(`Job type "${definition.name}" is declared twice`);
    const retry = { ...DEFAULT_RETRY_POLICY, ...definition.retry };
    const timeoutMs = definition.timeoutMs ?? DEFAULT_JOB_TIMEOUT_MS;
    const problems = [
      ...policyProblems(retry),
      ...(Number.isSafeInteger(timeoutMs) && timeoutMs >= 1 && timeoutMs <= MAX_JOB_TIMEOUT_MS ? [] : [`timeoutMs must be an integer from 1 to ${MAX_JOB_TIMEOUT_MS}`]),
      ...flowLimitsProblems(definition.limits, 'limits', 'type'),
    ];
    const { description, payload } = definition;
    if (description !== undefined && description !== null && typeof description !== 'string') problems.push('description must be a string');
    const schemaType = (payload as { type?: unknown } | null)?.type;
    if (schemaType !== undefined && schemaType !== 'object' && !(Array.isArray(schemaType) && schemaType.includes('object'))) {
      problems.push(`the payload schema must describe an object (payloads are JSON objects), not ${JSON.stringify(schemaType)}`);
    }
    if (problems.length > 0) throw new Error(`Job type "${definition.name}": ${problems.join('; ')}`);
    let validate: ValidateFunction;
    try {
      validate = compileSchema(payload);
    } catch (error) {
      throw new Error(`Job type "${definition.name}": the payload schema does not compile: ${error instanceof Error ? error.message : String(error)}`);
    }
    this.types.set(definition.name, {
      name: definition.name,
      description: description ?? undefined,
      payloadSchema: payload,
      retry,
      timeoutMs,
      limits: definition.limits ?? {},
      validate,
    });
  }

  /** Names of all types, sorted. */
  names(): string[] {
    return [...this.types.keys()].sort();
  }

  /** The type called `name`, if it is registered. */
  find(name: string): RegisteredJobType | undefined {
    return this.types.get(name);
  }

  /** The type called `name`, or an `InvalidJobError` that lists the known ones. */
  get(name: string): RegisteredJobType {
    const type = this.types.get(name);
    if (!type) {
      const known = this.types.size > 0 ? this.names().join(', ') : 'none (no worker serving any type is running, and none is declared)';
      throw new InvalidJobError(`Unknown job type "${name}". Known types: ${known}.`, 'UNKNOWN_JOB_TYPE');
    }
    return type;
  }

  /** Checks `payload` against its type's schema; the error names the offending field. */
  validatePayload(typeName: string, payload: unknown, path = 'payload'): void {
    validatePayload(this.get(typeName), payload, path);
  }
}

/**
 * Compiles a payload schema in an Ajv of its own: schemas of different types (published by other
 * teams, say) may use the same `$id`, which one Ajv refuses, and a `$ref` must not reach another type's schema.
 */
function compileSchema(schema: TSchema): ValidateFunction {
  // verbose: an error carries the schema it broke, so a message can say what a record's keys may be.
  const ajv = new Ajv({
    coerceTypes: false, useDefaults: false, removeAdditional: false, allErrors: false, strict: true, verbose: true,
    // `required` naming a field `properties` leaves open is valid JSON Schema, as schemas published by others may have it.
    strictRequired: false,
  });
  addFormats(ajv);
  return ajv.compile(schema);
}

/** What is wrong with a retry policy, as sentences naming the field. */
function policyProblems(retry: RetryPolicy): string[] {
  const within = (field: keyof RetryPolicy, min: number, max: number): string[] => {
    const value = retry[field];
    return Number.isSafeInteger(value) && value >= min && value <= max ? [] : [`retry.${field} must be an integer from ${min} to ${max}`];
  };
  return [
    ...within('maxAttempts', MIN_ATTEMPTS, MAX_ATTEMPTS),
    ...within('immediateRetries', 0, MAX_ATTEMPTS),
    ...within('baseDelayMs', 0, MAX_DELAY_MS),
    ...within('maxDelayMs', 0, MAX_DELAY_MS),
  ];
}

/** Checks `payload` against `type`'s schema; the error names the offending field. */
export function validatePayload(type: RegisteredJobType, payload: unknown, path = 'payload'): void {
  if (!type.validate(payload)) {
    throw new InvalidJobError(describeSchemaError(path, type.validate.errors?.[0]));
  }
}

/** Turns an Ajv error into a sentence naming the field, like `payload.ms must be integer`. */
export function describeSchemaError(root: string, error: ErrorObject | undefined): string {
  if (!error) return `${root} is invalid`;
  const field = root + error.instancePath.split('/').slice(1).map(pathSegment).join('');
  switch (error.keyword) {
    case 'additionalProperties': {
      const key = String(error.params.additionalProperty);
      const rules = (error.parentSchema as { patternProperties?: unknown; description?: string } | undefined) ?? {};
      // A record whose keys follow a pattern: the key is not unknown, it is not allowed.
      if (rules.patternProperties) return `${field} may not have the key "${key}"${rules.description ? ` (${rules.description})` : ''}`;
      return `${field} has an unknown field "${key}"`;
    }
    case 'required':
      return `${field === root ? root : field} is missing the required field "${String(error.params.missingProperty)}"`;
    default:
      return `${field} ${error.message ?? 'is invalid'}`;
  }
}

function pathSegment(segment: string): string {
  const key = segment.replace(/~1/g, '/').replace(/~0/g, '~');
  return /^\d+$/.test(key) ? `[${key}]` : `.${key}`;
}
