/**
 * One small drill from end to end, as `npm run drill` runs it: three instances on a PostgreSQL and
 * a redis-server of its own, one killed mid-sale and started again. The report must hold the
 * fault, the recovery and the invariants, and the run must meet its targets.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DrillReport } from '../../drill/report.types.js';
import { redisServerAvailable, redisServerBinary } from '../support/dependencies.js';

const root = resolve(import.meta.dirname, '../..');
const reason = redisServerAvailable ? '' : ` (skipped: ${redisServerBinary} is not installed)`;

describe.skipIf(!redisServerAvailable)(`npm run drill -- kill-instance, tiny${reason}`, () => {
  const out = mkdtempSync(join(tmpdir(), 'ticketing-drill-test-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('kills an instance mid-sale, sees it come back by itself, and writes a report that meets every target', { timeout: 120_000 }, async () => {
    // Holds last 6 s: longer than a user's longest think (4 s) between holding and paying.
    const args = ['kill-instance', '--users', '60', '--arrival-seconds', '12', '--fault-at', '4', '--fault-seconds', '3', '--max-seconds', '40', '--hold-ttl', '6', '--no-prometheus', '--out', out];
    const { DATABASE_URL: _d, REDIS_URL: _r, ...env } = process.env;
    const child = spawn(process.execPath, ['--import', 'tsx', 'drill/run.ts', ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const code = await new Promise<number | null>((done) => child.once('exit', done));
    expect({ code, output: code === 0 ? '' : output }).toEqual({ code: 0, output: '' });

    const report = JSON.parse(readFileSync(join(out, 'drill.json'), 'utf8')) as DrillReport;
    expect(report.scenario).toBe('kill-instance');
    expect(report.passed).toBe(true);
    expect(report.faultWindow.endSecond - report.faultWindow.startSecond).toBeGreaterThanOrEqual(3);
    // The killed instance's probes failed at once, and it answered ready again by itself.
    expect(report.recovery.readinessNoticedSeconds).not.toBeNull();
    expect(report.recovery.readinessBackSeconds).not.toBeNull();
    expect(report.recovery.fullServiceSeconds).not.toBeNull();
    expect(report.recovery.alertsNotEvaluated).toMatch(/--no-prometheus/);
    expect(report.timeline.map((e) => e.what)).toEqual(expect.arrayContaining([expect.stringMatching(/^fault started/), expect.stringMatching(/^fault ended/)]));
    expect(Object.values(report.invariants).slice(0, 8)).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
    expect(report.requests.before + report.requests.during + report.requests.after).toBeGreaterThan(100);
    expect(readFileSync(join(out, 'drill.md'), 'utf8')).toMatch(/## Recovery[\s\S]*full service again/);
    expect(readFileSync(join(out, 'timeline.svg'), 'utf8')).toMatch(/^<svg/);
  });
});
