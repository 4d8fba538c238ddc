/**
 * The HTTP producer against a bare Fastify JSON route, in one run, taking turns: POST /jobs on the
 * real API (its own process, with Redis and PostgreSQL behind it) and a route that parses the same
 * body and answers 202 without doing anything. Prints requests/s and latency, and the ratio.
 *
 *   npx tsx --conditions=sluice-source bench/http-producer.ts                     # 2 rounds of 10 s at 100 connections
 *   npx tsx --conditions=sluice-source bench/http-producer.ts --rounds 3 --seconds 20 --connections 200
 */
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import Fastify from 'fastify';
import { loadConfig } from '@sluice/core';
import { createTestDatabase, dropRedisKeys, envFor } from '../test/support/context';
import { ServiceProcess } from '../test/support/processes';
import { freePort } from '../test/support/redis-server';

const { values: args } = parseArgs({
  options: { rounds: { type: 'string', default: '2' }, seconds: { type: 'string', default: '10' }, connections: { type: 'string', default: '100' } },
});
const body = JSON.stringify({ type: 'noop', payload: { n: 1 } });
const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;

async function drive(url: string): Promise<{ rps: number; p50: number; p99: number; non2xx: number }> {
  const result = await autocannon({
    url, connections: Number(args.connections), duration: Number(args.seconds), method: 'POST', body, headers: { 'content-type': 'application/json' },
  });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx };
}

const id = randomUUID().slice(0, 8);
const config = loadConfig({ REDIS_URL: process.env.REDIS_URL, DATABASE_URL: process.env.DATABASE_URL, REDIS_PREFIX: `bench-http-${id}`, DATABASE_SCHEMA: `bench_http_${id}` });
const database = await createTestDatabase(config);
const apiPort = await freePort();
const api = ServiceProcess.start('api', 'apps/api/src/server.ts', { ...envFor(config), PORT: String(apiPort), LOG_LEVEL: 'warn' });

const bare = Fastify({ logger: false });
bare.post('/jobs', async (_request, reply) => reply.code(202).send({ id: randomUUID(), status: 'pending' }));
const barePort = await freePort();
await bare.listen({ port: barePort, host: '127.0.0.1' });
for (let tries = 0; tries < 100; tries += 1) {
  if ((await fetch(`http://127.0.0.1:${apiPort}/health`).then((r) => r.ok, () => false))) break;
  await new Promise((resolve) => setTimeout(resolve, 100));
}

const sluice: Awaited<ReturnType<typeof drive>>[] = [];
const baseline: Awaited<ReturnType<typeof drive>>[] = [];
for (let round = 1; round <= Number(args.rounds); round += 1) {
  baseline.push(await drive(`http://127.0.0.1:${barePort}/jobs`));
  sluice.push(await drive(`http://127.0.0.1:${apiPort}/jobs`));
  console.log(`round ${round}: bare ${Math.round(baseline.at(-1)?.rps ?? 0)} req/s, POST /jobs ${Math.round(sluice.at(-1)?.rps ?? 0)} req/s`);
}

const row = (name: string, runs: typeof sluice): string =>
  `| ${name} | ${Math.round(median(runs.map((r) => r.rps)))} | ${median(runs.map((r) => r.p50))} | ${median(runs.map((r) => r.p99))} | ${runs.reduce((sum, r) => sum + r.non2xx, 0)} |`;
console.log(`\n${args.connections} connections, ${args.seconds} s a turn, ${args.rounds} rounds, medians\n`);
console.log('| route | requests/s | p50 (ms) | p99 (ms) | non-2xx |\n|---|---|---|---|---|');
console.log(row('bare Fastify route', baseline));
console.log(row('Sluice POST /jobs', sluice));
console.log(`\nPOST /jobs / bare route: ${(median(sluice.map((r) => r.rps)) / median(baseline.map((r) => r.rps))).toFixed(2)}×`);

await bare.close();
await api.stop();
await dropRedisKeys(config);
await database.drop();
process.exit(0);
