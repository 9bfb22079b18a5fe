import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dashboardExpressions, dashboards, ROOT } from './tools.js';

/** The data source uids ops/grafana/provisioning/datasources provisions. */
const provisioned = [
  ...readFileSync(join(ROOT, 'ops/grafana/provisioning/datasources/datasources.yml'), 'utf8').matchAll(/^\s+uid:\s*(\S+)/gm),
].map((m) => m[1]);

interface Panel {
  type: string;
  title: string;
  datasource?: { uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { expr?: string; exemplar?: boolean; datasource?: { uid: string } }[];
  fieldConfig?: { defaults?: { links?: { url: string }[] } };
}

describe('the Grafana dashboards', () => {
  const all = dashboards();

  it('are there, with distinct uids', () => {
    expect(all.map((d) => d.uid).sort()).toEqual(['ticketing-sale', 'ticketing-systems']);
  });

  it.each(all.map((d) => [d.title, d] as const))('%s: every panel queries a provisioned data source', (_title, d) => {
    const panels = d.panels as unknown as Panel[];
    for (const p of panels.filter((p) => p.type !== 'row')) {
      expect(provisioned, `${p.title}'s data source`).toContain(p.datasource?.uid);
      expect(p.targets?.length, `${p.title} has queries`).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.expr, `${p.title}: a PromQL expression`).toMatch(/\S/);
    }
    expect(dashboardExpressions(d).length).toBeGreaterThan(10);
  });

  it.each(all.map((d) => [d.title, d] as const))('%s: no two panels overlap', (_title, d) => {
    const cells = new Map<string, string>();
    for (const p of d.panels as unknown as Panel[]) {
      const { x, y, w, h } = p.gridPos;
      expect(x + w, `${p.title} fits the 24 columns`).toBeLessThanOrEqual(24);
      for (let i = x; i < x + w; i++)
        for (let j = y; j < y + h; j++) {
          expect(cells.get(`${i},${j}`), `${p.title} overlaps`).toBeUndefined();
          cells.set(`${i},${j}`, p.title);
        }
    }
  });

  it('link the request latency panels to their traces in Jaeger', () => {
    const sale = all.find((d) => d.uid === 'ticketing-sale')!.panels as unknown as Panel[];
    const latency = sale.filter((p) => /^Latency p\d+ by route$/.test(p.title));
    expect(latency.map((p) => p.title)).toEqual(['Latency p50 by route', 'Latency p95 by route', 'Latency p99 by route']);
    for (const p of latency) {
      expect(p.targets!.every((t) => t.exemplar), `${p.title} asks for exemplars`).toBe(true);
      expect(p.fieldConfig?.defaults?.links?.[0]?.url, `${p.title} links to Jaeger`).toMatch(/^http:\/\/localhost:16686\/search\?service=ticketing&/);
    }
  });
});
