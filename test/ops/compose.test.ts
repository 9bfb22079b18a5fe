import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { needs, ROOT } from './tools.js';

const compose = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');

/** The text of one service's block in docker-compose.yml. */
const service = (name: string) => new RegExp(`^  ${name}:\\n((?:    .*\\n|\\s*\\n)+)`, 'm').exec(compose)?.[1] ?? '';

describe('docker-compose.yml', () => {
  const valid = needs('docker-compose config: the file is valid', 'docker-compose');
  it.skipIf(valid.skip)(valid.title, () => {
    const run = spawnSync('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'], { cwd: ROOT, encoding: 'utf8' });
    expect(run.status, run.stdout + run.stderr).toBe(0);
  });

  it('pins every image to a version', () => {
    const images = [...compose.matchAll(/^\s+image:\s*(\S+)/gm)].map((m) => m[1]!);
    expect(images.length).toBeGreaterThan(3);
    for (const image of images) expect(image, image).toMatch(/:v?\d+(\.\d+)*(-[\w.]+)?$/);
  });

  it('runs Prometheus, Grafana and Jaeger v2 beside the app', () => {
    expect(service('prometheus')).toMatch(/image: prom\/prometheus:v3\./);
    expect(service('prometheus')).toContain('./ops/prometheus/rules:/etc/prometheus/rules');
    expect(service('grafana')).toMatch(/image: grafana\/grafana:\d+\./);
    expect(service('grafana')).toContain('"3001:3000"');
    expect(service('grafana')).toContain('./ops/grafana/provisioning:/etc/grafana/provisioning');
    expect(service('jaeger')).toMatch(/image: jaegertracing\/jaeger:2\./);
    for (const port of ['16686', '4317', '4318']) expect(service('jaeger')).toContain(`"${port}:${port}"`);
  });

  it('starts the app traced at a 10% sample, exporting to Jaeger', () => {
    const app = service('app');
    expect(app).toContain('OTEL_EXPORTER_OTLP_ENDPOINT: http://jaeger:4318');
    expect(app).toContain('OTEL_TRACES_SAMPLER: parentbased_traceidratio');
    expect(app).toContain('OTEL_TRACES_SAMPLER_ARG: "0.1"');
  });

  it("lets Prometheus find every replica of the app by Docker's DNS", () => {
    const prometheus = readFileSync(join(ROOT, 'ops/prometheus/prometheus.yml'), 'utf8');
    expect(prometheus).toMatch(/dns_sd_configs:\s*\n\s*- names: \[app\]\s*\n\s*type: A\s*\n\s*port: 3000/);
  });
});
