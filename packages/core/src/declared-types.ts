import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidConfigError, messageOf } from './errors.js';
import { QUEUE_NAME_PATTERN } from './limits.js';
import { JobTypeRegistry, type JobTypeDefinition } from './registry.js';

/** Fields GET /job-types lists that describe the live workers, not the type: a file copied from it may hold them. */
const LISTING_FIELDS = ['queues', 'workers', 'declared', 'conflicts'];
const DEFINITION_FIELDS = ['name', 'description', 'payload', 'payloadSchema', 'retry', 'timeoutMs', 'maxAttempts', 'limits'];

/**
 * Reads job types declared to a producer ahead of any worker (JOB_TYPES_FILE): a `.json` file holding
 * an array of definitions, `{ name, payloadSchema, description?, retry?, maxAttempts?, timeoutMs?, limits? }`
 * (what GET /job-types lists: its whole answer `{ types: [...] }` is taken too, and its fields about
 * workers are ignored; `payload` is taken for `payloadSchema`), or a JavaScript module whose `types`
 * export (or default export's `types`, or default export) is an array of `defineJobType` definitions.
 * A module is run when it is read: one that only declares types, never one that starts a worker.
 * Throws `InvalidConfigError` saying what to fix.
 */
export async function loadDeclaredJobTypes(path: string): Promise<JobTypeDefinition[]> {
  const file = resolve(path);
  let entries: unknown;
  try {
    entries = file.endsWith('.json') ? typesOfJson(JSON.parse(await readFile(file, 'utf8'))) : typesExportOf(await import(pathToFileURL(file).href));
  } catch (error) {
    throw new InvalidConfigError([`JOB_TYPES_FILE ${file} cannot be read: ${messageOf(error)}`]);
  }
  if (!Array.isArray(entries)) {
    throw new InvalidConfigError([`JOB_TYPES_FILE ${file} must hold an array of job types (a JSON array, or a module exporting \`types\`)`]);
  }
  const problems: string[] = [];
  const definitions = entries.flatMap((entry: unknown, index) => {
    const problem = problemWith(entry);
    if (problem) {
      problems.push(`JOB_TYPES_FILE ${file}: entry ${index} ${problem}`);
      return [];
    }
    const { name, description, payload, payloadSchema, retry, timeoutMs, maxAttempts, limits } = entry as Record<string, unknown>;
    const policy = { ...(retry as JobTypeDefinition['retry']), ...(maxAttempts !== undefined && { maxAttempts: maxAttempts as number }) };
    return [{
      name: name as string,
      // Anything but a string is left for the registry to refuse, with its message.
      ...(description !== undefined && description !== null && { description: description as string }),
      payload: (payload ?? payloadSchema) as JobTypeDefinition['payload'],
      retry: policy,
      ...(timeoutMs !== undefined && { timeoutMs: timeoutMs as number }),
      // Left for the registry to check, with its message; workers enforce the limits of their own definitions.
      ...(limits !== undefined && { limits: limits as JobTypeDefinition['limits'] }),
    }];
  });
  if (problems.length === 0) {
    try {
      new JobTypeRegistry(definitions);
    } catch (error) {
      problems.push(`JOB_TYPES_FILE ${file}: ${messageOf(error)}`);
    }
  }
  if (problems.length > 0) throw new InvalidConfigError(problems);
  return definitions;
}

/** GET /job-types answers `{ types: [...] }`: a file saved from it holds that. */
function typesOfJson(json: unknown): unknown {
  return json !== null && typeof json === 'object' && !Array.isArray(json) && 'types' in json ? (json as { types: unknown }).types : json;
}

function typesExportOf(module: Record<string, unknown>): unknown {
  const fallback = module.default as Record<string, unknown> | unknown[] | undefined;
  return module.types ?? (Array.isArray(fallback) ? fallback : fallback?.types);
}

function problemWith(entry: unknown): string | undefined {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return 'is not an object';
  const { name, payload, payloadSchema } = entry as Record<string, unknown>;
  if (typeof name !== 'string' || !QUEUE_NAME_PATTERN.test(name)) return `needs a "name" of letters, digits and _.:- (1-64 characters)`;
  const schema = payload ?? payloadSchema;
  if (schema === null || typeof schema !== 'object') return `("${name}") needs a "payloadSchema": a JSON schema object`;
  const unknown = Object.keys(entry).filter((key) => !DEFINITION_FIELDS.includes(key) && !LISTING_FIELDS.includes(key));
  if (unknown.length > 0) return `("${name}") has unknown fields: ${unknown.join(', ')} (known: ${DEFINITION_FIELDS.join(', ')})`;
  return undefined;
}
