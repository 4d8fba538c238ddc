import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidConfigError, messageOf } from './errors.js';
import { QUEUE_NAME_PATTERN } from './limits.js';
import { JobTypeRegistry, type JobTypeDefinition } from './registry.js';

/**
 * Reads job types declared to a producer ahead of any worker (JOB_TYPES_FILE): a `.json` file holding
 * an array of definitions, `{ name, payloadSchema, description?, retry?, timeoutMs? }` (the shape
 * GET /job-types lists; `payload` is taken for `payloadSchema` too), or a JavaScript module whose
 * `types` export (or default export's `types`, or default export) is an array of `defineJobType`
 * definitions, such as the module a worker runs. Throws `InvalidConfigError` saying what to fix.
 */
export async function loadDeclaredJobTypes(path: string): Promise<JobTypeDefinition[]> {
  const file = resolve(path);
  let entries: unknown;
  try {
    entries = file.endsWith('.json') ? JSON.parse(await readFile(file, 'utf8')) : typesExportOf(await import(pathToFileURL(file).href));
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
    const { payloadSchema, payload, ...rest } = entry as JobTypeDefinition & { payloadSchema?: unknown };
    return [{ ...rest, payload: (payload ?? payloadSchema) as JobTypeDefinition['payload'] }];
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
  return undefined;
}
