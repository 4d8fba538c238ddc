import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

/** One instruction: its keyword in capitals, and its arguments split into words (exec form read as JSON). */
export interface DockerInstruction {
  keyword: string;
  words: string[];
}

/** One stage: from `FROM` to the next, with its `AS` name. */
export interface DockerStage {
  name: string | undefined;
  instructions: DockerInstruction[];
}

/** The repository's Dockerfile, stage by stage, with continued lines joined and comments left out. */
export function readDockerfile(): DockerStage[] {
  return parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
}

export function parseDockerfile(text: string): DockerStage[] {
  const lines = text
    .replace(/\\\r?\n(?:[ \t]*#.*\r?\n)*/g, ' ')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const stages: DockerStage[] = [];
  for (const line of lines) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const args = line.slice(keyword.length).trim();
    const words = args.startsWith('[') ? (JSON.parse(args) as string[]) : rest;
    const instruction = { keyword: keyword.toUpperCase(), words };
    if (instruction.keyword === 'FROM') {
      const as = words.findIndex((word) => word.toUpperCase() === 'AS');
      stages.push({ name: as >= 0 ? words[as + 1] : undefined, instructions: [] });
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`The Dockerfile has ${keyword} before its first FROM`);
    stage.instructions.push(instruction);
  }
  return stages;
}

/** A COPY's sources and destination, and the stage it copies from (`--from=`), if any. */
export function copyOperands(instruction: DockerInstruction): { from: string | undefined; sources: string[]; destination: string } {
  const from = instruction.words.find((word) => word.startsWith('--from='))?.slice('--from='.length);
  const operands = instruction.words.filter((word) => !word.startsWith('--'));
  return { from, sources: operands.slice(0, -1), destination: operands.at(-1) ?? '' };
}
