/**
 * A Prometheus of the drill's own, when the machine has the binary: it scrapes every instance each
 * second and evaluates the alert rules of ops/ each second; the drill polls its alerts and records
 * when each first went pending and firing. Absent binary or a failed start: "not evaluated", with why.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../harness/processes.js';

export const RULES = resolve(import.meta.dirname, '../ops/prometheus/rules/ticketing.yml');
const BINARY = process.env.PROMETHEUS ?? '/usr/bin/prometheus';

export interface AlertSeen {
  alert: string;
  state: 'pending' | 'firing';
  atMs: number;
  labels: Record<string, string>;
}

export interface Alerts {
  /** Why the alerts were not evaluated, when they were not. */
  notEvaluated: string | undefined;
  /** The first time each (alert, instance, state) was seen. */
  seen: AlertSeen[];
  stop(): Promise<void>;
}

export async function startPrometheus(targets: string[], pollMs = 1_000): Promise<Alerts> {
  const seen: AlertSeen[] = [];
  const none = (why: string): Alerts => ({ notEvaluated: why, seen, stop: async () => {} });
  if (!existsSync(BINARY)) return none(`${BINARY} is not installed`);
  const dir = mkdtempSync(join(tmpdir(), 'ticketing-drill-prom-'));
  const port = await freePort();
  writeFileSync(
    join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 900ms',
      '  evaluation_interval: 1s',
      `rule_files: [${JSON.stringify(RULES)}]`,
      'scrape_configs:',
      '  - job_name: ticketing',
      `    static_configs: [{ targets: [${targets.map((t) => JSON.stringify(t.replace(/^https?:\/\//, ''))).join(', ')}] }]`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(
    BINARY,
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: 'ignore' },
  );
  const base = `http://127.0.0.1:${port}`;
  const cleanup = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) {
      await cleanup();
      return none(`prometheus exited with ${child.exitCode} at start`);
    }
    if (await fetch(`${base}/-/ready`).then((r) => r.ok, () => false)) break;
    if (i > 100) {
      await cleanup();
      return none('prometheus was not ready within 20 s');
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const first = new Set<string>();
  const poll = async () => {
    try {
      const body = (await (await fetch(`${base}/api/v1/alerts`, { signal: AbortSignal.timeout(2_000) })).json()) as {
        data: { alerts: { labels: Record<string, string>; state: 'pending' | 'firing' }[] };
      };
      for (const a of body.data.alerts) {
        const key = `${a.labels.alertname} ${a.labels.instance ?? ''} ${a.state}`;
        if (first.has(key)) continue;
        first.add(key);
        seen.push({ alert: a.labels.alertname!, state: a.state, atMs: Date.now(), labels: a.labels });
      }
    } catch {
      // a missed poll: the next one sees the same alerts
    }
  };
  const timer = setInterval(() => void poll(), pollMs);
  return {
    notEvaluated: undefined,
    seen,
    stop: async () => {
      clearInterval(timer);
      await poll();
      await cleanup();
    },
  };
}
