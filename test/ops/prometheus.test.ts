import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { dashboardExpressions, dashboards, needs, quantities, ROOT, RULES, substitute } from './tools.js';
import { bookingWorkload } from './workload.js';

const ADMIN_TOKEN = 'adm_ops_test_token_0123456789';
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

/** Starts a process and resolves once `ready` answers; its output is kept for the failure message. */
async function startProcess(command: string, args: string[], env: NodeJS.ProcessEnv, ready: () => Promise<boolean>) {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`${command} exited ${child.exitCode}:\n${output}`);
    if (await ready().catch(() => false)) return { child, output: () => output };
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`${command} did not become ready:\n${output}`);
}

const stop = (child: ChildProcess | undefined) =>
  new Promise<void>((done) => {
    if (!child || child.exitCode !== null) return done();
    child.once('exit', () => done());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  });

interface QueryResult {
  status: string;
  error?: string;
  data?: { result: unknown[] };
}

const { skip, title } = needs('a real Prometheus scraping the service during a booking answers every expression of the dashboards and rules', 'prometheus');

describe.skipIf(skip)('Prometheus against the running service', () => {
  let service: ChildProcess | undefined;
  let prometheus: ChildProcess | undefined;
  let dataPlatform: Server | undefined;
  let promUrl = '';
  let baseUrl = '';
  const tmp = mkdtempSync(join(tmpdir(), 'ticketing-prometheus-'));
  const database = `ticketing_ops_${Date.now()}_${process.pid}`;
  const serverUrl = new URL(inject('databaseUrl'));
  const admin = () => new pg.Client({ connectionString: Object.assign(new URL(serverUrl), { pathname: '/postgres' }).toString() });

  beforeAll(async () => {
    // A database of its own: the service's relay and sweeper must not touch other tests' rows.
    const client = admin();
    await client.connect();
    await client.query(`CREATE DATABASE ${database}`);
    await client.end();

    dataPlatform = createHttpServer((req, res) => req.resume().on('end', () => res.writeHead(204).end()));
    await new Promise<void>((done) => dataPlatform!.listen(0, '127.0.0.1', done));

    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    const { DATABASE_URL: _d, REDIS_URL: _r, KAFKA_BROKERS: _k, ...inherited } = process.env;
    ({ child: service } = await startProcess(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      ...inherited,
      DATABASE_URL: Object.assign(new URL(serverUrl), { pathname: `/${database}` }).toString(),
      PORT: String(port),
      DATA_DIR: tmp,
      ADMIN_TOKEN,
      TOKEN_SECRET: 'ops-test-token-secret-0123456789-0123456789',
      DEMO_DATA: 'false',
      LOG_LEVEL: 'warn',
      RATE_LIMIT_ENABLED: 'false',
      QUEUE_MAX_ACTIVE: '4',
      QUEUE_ADMIT_PER_SECOND: '100',
      HOLD_TTL_SECONDS: '2',
      HOLD_SWEEP_INTERVAL_MS: '200',
      DATA_PLATFORM_URL: `http://127.0.0.1:${(dataPlatform.address() as AddressInfo).port}/events`,
    }, async () => (await fetch(`${baseUrl}/health/ready`)).ok));

    const promPort = await freePort();
    promUrl = `http://127.0.0.1:${promPort}`;
    const config = join(tmp, 'prometheus.yml');
    writeFileSync(config, [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      `rule_files: [${JSON.stringify(RULES)}]`,
      'scrape_configs:',
      '  - job_name: ticketing',
      `    static_configs: [{ targets: ["127.0.0.1:${port}"] }]`,
    ].join('\n'));
    ({ child: prometheus } = await startProcess('prometheus', [
      `--config.file=${config}`, `--storage.tsdb.path=${join(tmp, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`,
    ], process.env, async () => (await fetch(`${promUrl}/-/ready`)).ok));
  }, 120_000);

  afterAll(async () => {
    await stop(prometheus);
    await stop(service);
    await new Promise((done) => (dataPlatform ? dataPlatform.close(done) : done(undefined)));
    const client = admin();
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await client.end();
    rmSync(tmp, { recursive: true, force: true });
  }, 60_000);

  const query = async (expr: string): Promise<QueryResult> =>
    (await fetch(`${promUrl}/api/v1/query?${new URLSearchParams({ query: expr })}`)).json() as Promise<QueryResult>;

  it(title, { timeout: 120_000 }, async () => {
    await bookingWorkload({ base: baseUrl, adminToken: ADMIN_TOKEN });
    await sleep(6_000); // a few scrapes and rule evaluations after the last request

    const rules = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as {
      data: { groups: { rules: { type: 'recording' | 'alerting'; name: string; query: string; health: string; lastError?: string }[] }[] };
    };
    const loaded = rules.data.groups.flatMap((g) => g.rules);
    expect(loaded.length, 'rules loaded from ops/prometheus/rules').toBeGreaterThan(0);
    for (const r of loaded) expect(r.health, `${r.name}: ${r.lastError ?? ''}`).toBe('ok');

    /** Each expression, where it comes from, and whether it must return series. */
    const checks: { where: string; expr: string; mustReturn: boolean }[] = [
      ...dashboards().flatMap((d) => dashboardExpressions(d).map((e) => ({ ...e, expr: substitute(e.expr), mustReturn: true }))),
      ...loaded.filter((r) => r.type === 'recording').flatMap((r) => [
        { where: `recording rule ${r.name}`, expr: r.query, mustReturn: true },
        { where: `recording rule ${r.name} (its result)`, expr: r.name, mustReturn: true },
      ]),
      ...loaded.filter((r) => r.type === 'alerting').flatMap((r) => [
        { where: `alert ${r.name}`, expr: r.query, mustReturn: false },
        ...quantities(r.query).map((q) => ({ where: `alert ${r.name} (quantity)`, expr: q, mustReturn: true })),
      ]),
    ];
    const failures: string[] = [];
    for (const c of checks) {
      const res = await query(c.expr);
      if (res.status !== 'success') failures.push(`${c.where}: invalid: ${res.error}\n    ${c.expr}`);
      else if (c.mustReturn && res.data!.result.length === 0) failures.push(`${c.where}: no series\n    ${c.expr}`);
    }
    console.log(`PromQL expressions verified against a running Prometheus: ${checks.length}`);
    expect(failures, failures.join('\n')).toEqual([]);
  });
});
