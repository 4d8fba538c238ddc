import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { JobHandler, JobTypeDefinition } from '@sluice/core';
import { UsageError } from './command-line.js';
import { messageOf } from './message-of.js';

/** What a module of job types offers a worker: the types' definitions and a handler per type name. */
export interface WorkerModule {
  types: readonly JobTypeDefinition[];
  handlers: Readonly<Record<string, JobHandler<never>>>;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** `{ types, handlers }` when `source` has that shape, else a sentence saying what is wrong with it. */
function shapeOf(source: Record<string, unknown>): WorkerModule | string {
  const { types, handlers } = source;
  if (!Array.isArray(types)) return '`types` must be an array of defineJobType(...) definitions';
  if (!isRecord(handlers)) return '`handlers` must be an object of handler functions by type name';
  const notFunction = Object.keys(handlers).find((name) => typeof handlers[name] !== 'function');
  if (notFunction !== undefined) return `handlers.${notFunction} is not a function`;
  const names: unknown[] = types.map((type) => (isRecord(type) ? type.name : undefined));
  const unnamed = names.findIndex((name) => typeof name !== 'string');
  if (unnamed !== -1) return `types[${unnamed}] is not a job type definition (defineJobType({ name, payload, ... }))`;
  const unhandled = names.find((name) => !Object.hasOwn(handlers, name as string));
  if (unhandled !== undefined) return `\`types\` declares "${String(unhandled)}" but \`handlers\` has no function for it`;
  const undeclared = Object.keys(handlers).find((name) => !names.includes(name));
  if (undeclared !== undefined) return `\`handlers\` has "${undeclared}" but \`types\` does not declare it`;
  // The rest of each definition is checked by the worker, which names what is wrong with it.
  return { types: types as WorkerModule['types'], handlers: handlers as WorkerModule['handlers'] };
}

/**
 * Loads the user's module at `path` (relative to `cwd`): named exports `types` and `handlers`, or a
 * default export `{ types, handlers }`. A missing module or one of another shape is a usage error.
 */
export async function loadWorkerModule(path: string, cwd: string): Promise<WorkerModule> {
  const file = resolve(cwd, path);
  if (!existsSync(file)) throw new UsageError(`no module at ${file}`);
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`cannot load ${path}: ${messageOf(error)}`, { cause: error });
  }
  const [source, where] = 'types' in loaded || 'handlers' in loaded ? [loaded, ''] : isRecord(loaded.default) ? [loaded.default, 'its default export: '] : [undefined, ''];
  if (!source) throw new UsageError(`${path} exports neither \`types\` and \`handlers\` nor a default export { types, handlers }`);
  const shape = shapeOf(source);
  if (typeof shape === 'string') throw new UsageError(`${path}: ${where}${shape}`);
  return shape;
}
