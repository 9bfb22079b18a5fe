import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { alerts, needs, ROOT, RULES } from './tools.js';

const promtool = (...args: string[]) => spawnSync('promtool', args, { cwd: ROOT, encoding: 'utf8' });

describe('the Prometheus files', () => {
  const check = needs('promtool check rules: the rules file is valid', 'promtool');
  it.skipIf(check.skip)(check.title, () => {
    const run = promtool('check', 'rules', RULES);
    expect(run.status, run.stdout + run.stderr).toBe(0);
  });

  const unit = needs('promtool test rules: every alert fires on its series and stays quiet on the others', 'promtool');
  it.skipIf(unit.skip)(unit.title, () => {
    const run = promtool('test', 'rules', join(ROOT, 'ops/prometheus/tests/alerts.test.yml'));
    expect(run.status, run.stdout + run.stderr).toBe(0);
  });

  const config = needs("promtool check config: Compose's Prometheus configuration is valid", 'promtool');
  it.skipIf(config.skip)(config.title, () => {
    // The configuration names the rules where Compose mounts them; checked here without them.
    const run = promtool('check', 'config', '--syntax-only', join(ROOT, 'ops/prometheus/prometheus.yml'));
    expect(run.status, run.stdout + run.stderr).toBe(0);
  });
});

describe('ops/prometheus/tests/alerts.test.yml', () => {
  const tests = readFileSync(join(ROOT, 'ops/prometheus/tests/alerts.test.yml'), 'utf8');
  /** Each alert_rule_test entry: the alert it names and whether it expects the alert to fire. */
  const cases = [...tests.matchAll(/alertname:\s*(\S+)\s*\n\s*exp_alerts:\s*(\[\])?/g)].map((m) => ({ alert: m[1]!, fires: !m[2] }));

  it.each(alerts().map((a) => [a.name]))('%s: one case fires it, another keeps it quiet', (name) => {
    expect(cases.filter((c) => c.alert === name && c.fires).length, 'a case where it fires').toBeGreaterThan(0);
    expect(cases.filter((c) => c.alert === name && !c.fires).length, 'a case where it stays quiet').toBeGreaterThan(0);
  });
});
