import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';

const ROOT = resolve(import.meta.dirname, '../..');

/** A service of docker-compose.yml, as far as the tests read it. */
export interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, string | number | null>;
  ports?: string[];
  volumes?: string[];
  configs?: { source: string; target: string }[];
  profiles?: string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  deploy?: { replicas?: number };
  restart?: string;
  stop_grace_period?: string;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  configs?: Record<string, { file?: string }>;
}

/** docker-compose.yml, its `<<` merge keys applied as Compose applies them (YAML 1.2, the parser's default, has none). */
export function readComposeFile(): ComposeFile {
  return parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as ComposeFile;
}

/** The words a service runs, its command split as Compose splits a string one. */
export function commandWords(service: ComposeService): string[] {
  const command = service.command ?? [];
  return Array.isArray(command) ? command : command.split(/\s+/);
}

/** The file in this repository that a service sees at `target` through a config of the compose file, if any. */
export function configFileAt(compose: ComposeFile, service: ComposeService, target: string): string | undefined {
  const source = service.configs?.find((config) => config.target === target)?.source;
  const file = source === undefined ? undefined : compose.configs?.[source]?.file;
  return file === undefined ? undefined : resolve(ROOT, file);
}

/**
 * The settings a redis-server (or sentinel) starts with: the directives of its configuration file, if
 * its command names one that a config of the compose file provides, then its `--name value…`
 * arguments, which win. Each directive maps to its arguments; repeated ones (`sentinel …`) to each.
 */
export function redisSettings(compose: ComposeFile, service: ComposeService): Map<string, string[][]> {
  const words = commandWords(service);
  const settings = new Map<string, string[][]>();
  const set = (name: string, args: string[], repeatable: boolean): void => {
    settings.set(name, [...(repeatable ? (settings.get(name) ?? []) : []), args]);
  };
  const file = words.map((word) => configFileAt(compose, service, word)).find((found) => found?.endsWith('.conf'));
  if (file !== undefined) {
    for (const line of readFileSync(file, 'utf8').split('\n').map((text) => text.trim())) {
      if (line === '' || line.startsWith('#')) continue;
      const [name = '', ...args] = line.split(/\s+/);
      set(name.toLowerCase(), args, name.toLowerCase() === 'sentinel');
    }
  }
  for (let at = words.findIndex((word) => word.startsWith('--')); at >= 0 && at < words.length; ) {
    const next = words.findIndex((word, i) => i > at && word.startsWith('--'));
    const end = next < 0 ? words.length : next;
    const name = (words[at] as string).slice(2).toLowerCase();
    // `--sentinel` is the mode, not one of the `sentinel …` directives.
    if (name !== 'sentinel') set(name, words.slice(at + 1, end), false);
    at = end;
  }
  return settings;
}

/** The arguments of a directive that takes one value, e.g. `port`. */
export function redisSetting(settings: Map<string, string[][]>, name: string): string | undefined {
  return settings.get(name)?.at(-1)?.join(' ');
}

/**
 * The durability settings docker-compose.yml gives Redis (`--appendonly …`, `--appendfsync …`), so
 * that the outage tests run the configuration the project ships, not one of their own.
 */
export function composeRedisDurabilityArgs(): string[] {
  const words = commandWords(readComposeFile().services.redis ?? {});
  const args: string[] = [];
  for (const flag of ['--appendonly', '--appendfsync']) {
    const at = words.indexOf(flag);
    if (at < 0 || words[at + 1] === undefined) throw new Error(`docker-compose.yml runs Redis without ${flag}`);
    args.push(flag, words[at + 1] as string);
  }
  return args;
}

/** A value as Compose interpolates it with none of the variables it names set: `${NAME:-default}` is the default. */
export function interpolateUnset(value: string): string {
  return value.replace(/\$\$|\$\{(\w+)(?::?-([^}]*))?\}/g, (match, name: string | undefined, fallback: string | undefined) =>
    name === undefined ? '$' : (fallback ?? ''),
  );
}
