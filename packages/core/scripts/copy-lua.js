import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';

/**
 * Copies the Lua scripts next to the compiled JavaScript that reads them (dist/redis/lua). A file
 * already the same is left alone and a changed one is replaced whole (written aside, then renamed),
 * so a process loading the scripts while a build runs never reads one half-written.
 */
const from = new URL('../src/redis/lua/', import.meta.url);
const to = new URL('../dist/redis/lua/', import.meta.url);

mkdirSync(to, { recursive: true });
for (const name of readdirSync(from).filter((file) => file.endsWith('.lua'))) {
  const source = readFileSync(new URL(name, from));
  const target = new URL(name, to);
  if (existsSync(target) && readFileSync(target).equals(source)) continue;
  const aside = join(fileURLToPath(to), `.${name}.${process.pid}`);
  writeFileSync(aside, source);
  renameSync(aside, target);
}
