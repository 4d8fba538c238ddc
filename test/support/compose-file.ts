import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * The durability settings docker-compose.yml gives Redis (`--appendonly …`, `--appendfsync …`), so
 * that the outage tests run the configuration the project ships, not one of their own.
 */
export function composeRedisDurabilityArgs(): string[] {
  const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<string, { command?: string | string[] }>;
  };
  const command = compose.services.redis?.command ?? [];
  const words = Array.isArray(command) ? command : command.split(/\s+/);
  const args: string[] = [];
  for (const flag of ['--appendonly', '--appendfsync']) {
    const at = words.indexOf(flag);
    if (at < 0 || words[at + 1] === undefined) throw new Error(`docker-compose.yml runs Redis without ${flag}`);
    args.push(flag, words[at + 1] as string);
  }
  return args;
}
