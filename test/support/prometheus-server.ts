import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ServiceProcess } from './processes';
import { freePort } from './redis-server';

/** One series of an instant query's answer. */
export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

/** A rule as GET /api/v1/rules reports it: whether its last evaluation worked. */
export interface PromRuleHealth {
  name: string;
  health: string;
  lastError?: string;
}

/** The scrape and evaluation interval: short, so that a test sees rates after a few seconds. */
const INTERVAL = '1s';

/**
 * A Prometheus server of the test's own (Debian's prometheus package, beside promtool), scraping each job's
 * targets at /metrics every second and evaluating `ruleFiles`, with its storage in a folder it deletes on stop.
 */
export class PrometheusServer {
  private constructor(
    private readonly service: ServiceProcess,
    private readonly url: string,
    private readonly dir: string,
  ) {}

  static async start(jobs: Record<string, string[]>, ruleFiles: string[]): Promise<PrometheusServer> {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-prometheus-'));
    const config = {
      global: { scrape_interval: INTERVAL, evaluation_interval: INTERVAL },
      rule_files: ruleFiles,
      scrape_configs: Object.entries(jobs).map(([job, targets]) => ({ job_name: job, static_configs: [{ targets }] })),
    };
    await writeFile(join(dir, 'prometheus.yml'), stringify(config));
    const port = await freePort();
    const service = ServiceProcess.command('prometheus', 'prometheus', [
      `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`,
    ], {});
    const server = new PrometheusServer(service, `http://127.0.0.1:${port}`, dir);
    try {
      await service.waitForOutput('Server is ready to receive web requests', 30_000);
    } catch (error) {
      await server.stop();
      throw error;
    }
    return server;
  }

  /** The answer to an instant query; throws with Prometheus's error when it refuses or fails it. */
  async query(expr: string): Promise<PromSample[]> {
    const body = await this.get(`/api/v1/query?query=${encodeURIComponent(expr)}`);
    return (body as { result: PromSample[] }).result;
  }

  /** Every rule loaded, with the health of its last evaluation. */
  async rules(): Promise<PromRuleHealth[]> {
    const body = (await this.get('/api/v1/rules')) as { groups: { rules: PromRuleHealth[] }[] };
    return body.groups.flatMap((group) => group.rules);
  }

  /** Each scrape target's job, instance and health (`up`, `down`, `unknown`). */
  async targets(): Promise<{ labels: Record<string, string>; health: string; lastError: string }[]> {
    return ((await this.get('/api/v1/targets')) as { activeTargets: { labels: Record<string, string>; health: string; lastError: string }[] }).activeTargets;
  }

  async stop(): Promise<void> {
    await this.service.stop();
    await rm(this.dir, { recursive: true, force: true });
  }

  private async get(path: string): Promise<unknown> {
    const response = await fetch(`${this.url}${path}`, { signal: AbortSignal.timeout(5000) });
    const body = (await response.json()) as { status: string; data?: unknown; error?: string };
    if (body.status !== 'success') throw new Error(`Prometheus answered ${path} with ${response.status}: ${body.error ?? 'no error given'}`);
    return body.data;
  }
}
