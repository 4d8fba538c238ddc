import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { Worker } from '@sluice/core';
import { createJobRegistry } from '@sluice/jobs';
import { createHandlers } from '@sluice/jobs/handlers';
import { startApp, type AppFixture } from '../apps/api/test/fixture';
import { createWorkerMetrics, serveMetrics } from '../apps/worker/src/metrics';
import { isolatedConfig, waitFor } from './support/context';
import { PrometheusServer } from './support/prometheus-server';
import { exportedLabels, promqlNames } from './support/promql';

const ROOT = resolve(import.meta.dirname, '..');
const RULES = join(ROOT, 'deploy/prometheus/sluice-alerts.yml');
const RULE_TESTS = join(ROOT, 'deploy/prometheus/sluice-alerts.test.yml');
const DASHBOARD = join(ROOT, 'deploy/grafana/sluice-dashboard.json');
/** Labels Prometheus adds to every series it scrapes, which no exporter sends. */
const TARGET_LABELS = ['job', 'instance'];
/** The type the test's worker does not serve, so that its jobs wait without a worker. */
const UNSERVED_TYPE = 'sleep';

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

interface Target {
  refId: string;
  expr: string;
  datasource?: { type: string; uid: string };
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
}

interface Variable {
  name: string;
  type: string;
  query: string | { query: string };
  datasource?: { type: string; uid: string };
}

interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
}

const rules = (parse(readFileSync(RULES, 'utf8')) as { groups: { name: string; rules: AlertRule[] }[] }).groups.flatMap((group) => group.rules);
const ruleTests = parse(readFileSync(RULE_TESTS, 'utf8')) as { tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[] };
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
const graphs = dashboard.panels.filter((panel) => panel.type !== 'row');
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

/** Runs promtool; fails with its output unless it exits 0. */
function promtool(...args: string[]): string {
  const run = spawnSync('promtool', args, { encoding: 'utf8' });
  if (run.error) throw run.error;
  const output = `${run.stdout}${run.stderr}`;
  expect(run.status, output).toBe(0);
  return output;
}

/** `label_values(<selector>, <label>)`, Grafana's variable query, as a PromQL selector and the label it lists. */
function labelValuesQuery(query: string): { selector: string; label: string } {
  const match = /^label_values\((.+),\s*([A-Za-z_]\w*)\)$/.exec(query);
  if (!match) throw new Error(`not a label_values query: ${query}`);
  return { selector: match[1] as string, label: match[2] as string };
}

/** A dashboard query as Prometheus gets it: Grafana's variables only stand in for ranges and label values, which any of the right kind replaces. */
function grafanaToPromql(expr: string, rateInterval: string): string {
  return expr.replaceAll('$__rate_interval', rateInterval).replace(/\$\{?(\w+)\}?/g, '.*');
}

/** Every PromQL expression the dashboard and the rules evaluate, each with where it comes from. */
function expressions(): { source: 'alert' | 'panel' | 'variable'; where: string; expr: string; listedLabel?: string }[] {
  return [
    ...rules.map((rule) => ({ source: 'alert' as const, where: `alert ${rule.alert}`, expr: rule.expr })),
    ...graphs.flatMap((panel) => (panel.targets ?? []).map((target) => ({ source: 'panel' as const, where: `panel "${panel.title}" ${target.refId}`, expr: target.expr }))),
    ...dashboard.templating.list.filter((variable) => variable.type === 'query').map((variable) => {
      const { selector, label } = labelValuesQuery(typeof variable.query === 'string' ? variable.query : variable.query.query);
      return { source: 'variable' as const, where: `variable ${variable.name}`, expr: selector, listedLabel: label };
    }),
  ];
}

describe('the Prometheus alert rules', () => {
  it('pass promtool check rules', () => {
    expect(promtool('check', 'rules', RULES)).toContain(`SUCCESS: ${rules.length} rules found`);
  });

  it('fire and stay quiet as their unit tests expect (promtool test rules)', () => {
    expect(promtool('test', 'rules', RULE_TESTS)).toContain('SUCCESS');
  });

  it('are each unit-tested both firing and not firing', () => {
    const cases = ruleTests.tests.flatMap((test) => test.alert_rule_test);
    for (const { alert } of rules) {
      expect(cases.some((test) => test.alertname === alert && test.exp_alerts.length > 0), `${alert} firing`).toBe(true);
      expect(cases.some((test) => test.alertname === alert && test.exp_alerts.length === 0), `${alert} not firing`).toBe(true);
    }
  });

  it('include the alerts on history lag, dead-letter growth, jobs without a worker, queue latency and restarting workers, each with a severity, summary, description and runbook', () => {
    expect(rules.map((rule) => rule.alert)).toEqual(expect.arrayContaining(['SluiceHistoryLagging', 'SluiceDeadLettersGrowing', 'SluiceJobsWithoutWorker', 'SluiceQueueLatencyHigh', 'SluiceWorkersRestarting']));
    for (const rule of rules) {
      expect(['warning', 'critical'], rule.alert).toContain(rule.labels?.severity);
      expect(Object.keys(rule.annotations ?? {}).sort(), rule.alert).toEqual(['description', 'runbook', 'summary']);
    }
  });

  it('are loaded by the shipped Prometheus configuration, which promtool accepts', () => {
    expect(promtool('check', 'config', join(ROOT, 'deploy/prometheus/prometheus.yml'))).toContain(`SUCCESS: ${rules.length} rules found`);
  });
});

describe('the Grafana dashboard', () => {
  it('has a uid, a title and a Grafana 10 schema, and a Prometheus data source variable that every panel and query uses', () => {
    expect(dashboard.uid).toMatch(/^[\w-]{1,40}$/);
    expect(dashboard.title).toBe('Sluice');
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.templating.list.find((variable) => variable.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const panel of graphs) {
      expect(panel.datasource, panel.title).toEqual(DATASOURCE);
      for (const target of panel.targets ?? []) expect(target.datasource, `${panel.title} ${target.refId}`).toEqual(DATASOURCE);
    }
    for (const variable of dashboard.templating.list.filter((found) => found.type === 'query')) expect(variable.datasource, variable.name).toEqual(DATASOURCE);
  });

  it('gives every panel a unique id and every graph queries with an expression each, under distinct refIds', () => {
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(graphs.length).toBeGreaterThan(0);
    for (const panel of graphs) {
      const targets = panel.targets ?? [];
      expect(targets.length, panel.title).toBeGreaterThan(0);
      for (const target of targets) expect(target.expr.trim(), `${panel.title} ${target.refId}`).not.toBe('');
      expect(new Set(targets.map((target) => target.refId)).size, panel.title).toBe(targets.length);
    }
  });

  it('lays its panels out on the 24-column grid without overlap', () => {
    const cells = new Set<string>();
    for (const { title, gridPos } of dashboard.panels) {
      expect(gridPos.x + gridPos.w, title).toBeLessThanOrEqual(24);
      for (let x = gridPos.x; x < gridPos.x + gridPos.w; x += 1) {
        for (let y = gridPos.y; y < gridPos.y + gridPos.h; y += 1) {
          expect(cells.has(`${x},${y}`), `${title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
      }
    }
  });

  it('queries in PromQL that promtool parses, Grafana\'s variables put in', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-dashboard-queries-'));
    try {
      const recorded = expressions().map(({ expr }, index) => ({ record: `dashboard:query_${index}`, expr: grafanaToPromql(expr, '5m') }));
      const file = join(dir, 'dashboard-queries.yml');
      await writeFile(file, stringify({ groups: [{ name: 'dashboard', rules: recorded }] }));
      expect(promtool('check', 'rules', file)).toContain(`SUCCESS: ${recorded.length} rules found`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the metrics the dashboard and the alert rules read', () => {
  const config = isolatedConfig('ops-kit');
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  let fixture: AppFixture;
  let worker: Worker;
  let workerMetrics: Server;
  let prometheus: PrometheusServer | undefined;
  /** Each sample name the API and the worker export, with its labels. */
  let exported: Map<string, Set<string>>;

  beforeAll(async () => {
    fixture = await startApp(config);
    const handlers = createHandlers({ smtpUrl: undefined, smtpFrom: 'x@y.z', logger: silent });
    worker = new Worker({
      redis: config.redis, queue: config.queue, worker: config.worker, registry: createJobRegistry(),
      handlers: Object.fromEntries(Object.entries(handlers).filter(([type]) => type !== UNSERVED_TYPE)),
    });
    workerMetrics = await serveMetrics(createWorkerMetrics(worker), { port: 0, host: '127.0.0.1', key: undefined }, silent);
    await worker.start();

    // A completed job, a failed one dead-lettered, and one of a type no worker serves: every series the panels read.
    await fixture.submit({ type: 'noop', payload: {} });
    await fixture.submit({ type: 'fail', payload: { permanent: true } });
    await fixture.submit({ type: UNSERVED_TYPE, payload: { ms: 1 } });
    const scrapeWorker = async () => (await fetch(`http://127.0.0.1:${(workerMetrics.address() as AddressInfo).port}/metrics`)).text();
    const scrapeApi = async () => (await fixture.app.inject({ method: 'GET', url: '/metrics' })).body;
    const [workerText, apiText] = await waitFor('the jobs to show in both scrapes', async () => {
      const [fromWorker, fromApi] = await Promise.all([scrapeWorker(), scrapeApi()]);
      const ran = fromWorker.includes('sluice_jobs_completed_total{queue="default",type="noop"} 1') && fromWorker.includes('sluice_jobs_dead_total{queue="default",type="fail"} 1');
      const unserved = fromApi.includes(`sluice_jobs_waiting_without_worker{queue="default",type="${UNSERVED_TYPE}"} 1`);
      return ran && unserved ? ([fromWorker, fromApi] as const) : undefined;
    }, 20_000);
    exported = exportedLabels(`${workerText}\n${apiText}`);

    // Scraped as a deployment would be: target labels added, the rules evaluated on what is scraped.
    await fixture.app.listen({ port: 0, host: '127.0.0.1' });
    const portOf = (server: Server) => (server.address() as AddressInfo).port;
    prometheus = await PrometheusServer.start({ 'sluice-api': [`127.0.0.1:${portOf(fixture.app.server)}`], 'sluice-worker': [`127.0.0.1:${portOf(workerMetrics)}`] }, [RULES]);
    await waitFor('Prometheus to scrape the API and the worker', async () => {
      const targets = (await prometheus?.targets()) ?? [];
      return targets.length === 2 && targets.every((target) => target.health === 'up');
    }, 20_000);
  });

  afterAll(async () => {
    await prometheus?.stop();
    await new Promise((resolveClose) => workerMetrics?.close(resolveClose));
    await worker?.close(1000);
    await fixture?.close();
  });

  it('are every one exported by the API or a worker', () => {
    const missing = expressions().flatMap(({ where, expr }) => promqlNames(expr).selectors.filter(({ metric }) => !exported.has(metric)).map(({ metric }) => `${where}: ${metric}`));
    expect(missing).toEqual([]);
  });

  it('match and group by labels those metrics carry, or that Prometheus adds at the scrape', () => {
    const problems = expressions().flatMap(({ where, expr, listedLabel }) => {
      const { selectors, groupingLabels } = promqlNames(expr);
      const carried = (metric: string) => new Set([...(exported.get(metric) ?? []), ...TARGET_LABELS]);
      const matched = selectors.flatMap(({ metric, labels }) => labels.filter((label) => !carried(metric).has(label)).map((label) => `${where}: ${metric} has no label ${label}`));
      const anyCarries = (label: string) => selectors.some(({ metric }) => carried(metric).has(label));
      const grouped = [...groupingLabels, ...(listedLabel === undefined ? [] : [listedLabel])].filter((label) => !anyCarries(label)).map((label) => `${where}: no metric it reads has label ${label}`);
      return [...matched, ...grouped];
    });
    expect(problems).toEqual([]);
  });

  it('give every dashboard query at least one series in a Prometheus that scrapes them', async () => {
    // Rates want two samples within their range: four scrapes' worth, as Grafana's $__rate_interval would be.
    await waitFor('every dashboard query to answer with series', async () => {
      const answers = await Promise.all(expressions().filter(({ source }) => source !== 'alert').map(async ({ where, expr, listedLabel }) => {
        const series = (await prometheus?.query(grafanaToPromql(expr, '4s'))) ?? [];
        return series.some(({ metric }) => listedLabel === undefined || metric[listedLabel] !== undefined) ? undefined : where;
      }));
      const empty = answers.filter((where) => where !== undefined);
      if (empty.length > 0) throw new Error(`no series for ${empty.join(', ')}`);
      return true;
    }, 20_000, 250);
  });

  it('evaluate every alert rule without an error on what Prometheus scraped', async () => {
    const rules = await waitFor('each rule to be evaluated', async () => {
      const loaded = (await prometheus?.rules()) ?? [];
      return loaded.length > 0 && loaded.every((rule) => rule.health !== 'unknown') ? loaded : undefined;
    });
    expect(rules.map(({ name, health, lastError }) => ({ name, health, lastError: lastError ?? '' }))).toEqual(
      rules.map(({ name }) => ({ name, health: 'ok', lastError: '' })),
    );
  });

  it('are found by the checks above when they are not there', () => {
    const names = promqlNames('histogram_quantile(0.99, sum by (le, queue) (rate(sluice_job_wait_seconds_bucket{type=~"$type"}[$__rate_interval]))) and on (job) sluice_nothing_total');
    expect(names.selectors).toEqual([{ metric: 'sluice_job_wait_seconds_bucket', labels: ['type'] }, { metric: 'sluice_nothing_total', labels: [] }]);
    expect(names.groupingLabels).toEqual(['le', 'queue', 'job']);
    expect(exported.has('sluice_nothing_total')).toBe(false);
    expect(exported.get('sluice_job_wait_seconds_bucket')).toEqual(new Set(['le', 'queue', 'type']));
  });
});
