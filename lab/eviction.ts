/**
 * Eviction lab: miss ratio of every L1 eviction policy against cache size on synthetic traces,
 * and get/set throughput of each policy with `lru-cache` (the `lru` policy) as the yardstick.
 *
 *   npm run lab -- eviction [--quick] [--out DIR]
 *
 * Seeded and reproducible: the traces, and so the miss ratios, are identical on every run; only
 * the throughput figures depend on the machine. Each throughput sample runs in a fresh child
 * process (so no policy inherits another's JIT state or megamorphic call sites), and rounds are
 * interleaved across policies in a rotating order; the report quotes medians.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { POLICY_NAMES } from '../src/cache/eviction/policy.js';
import { charts, findings, markdown } from './eviction-report.js';
import { measureThroughput } from './eviction-throughput.js';
import {
  buildTrace,
  capacityFor,
  FULL,
  missRatio,
  QUICK,
  SIZE_RATIOS,
  THROUGHPUT_SIZE_RATIO,
  THROUGHPUT_WORKLOAD,
  WORKLOADS,
  type EvictionRow,
} from './eviction-workloads.js';
import { fmtInt } from '../harness/format.js';

export type { EvictionRow };

export interface EvictionLabOptions {
  quick: boolean;
  out: string;
}

export async function runEvictionLab({ quick, out }: EvictionLabOptions): Promise<EvictionRow[]> {
  const settings = quick ? QUICK : FULL;
  const outDir = resolve(out);
  mkdirSync(outDir, { recursive: true });
  const log = (message: string) => process.stdout.write(`[eviction] ${message}\n`);
  log(`${quick ? 'quick' : 'full'} run: ${fmtInt(settings.keys)} keys, ${fmtInt(settings.requests)} requests per trace → ${outDir}`);

  const rows: EvictionRow[] = [];
  const simulateStart = performance.now();
  for (const { name } of WORKLOADS) {
    const t0 = performance.now();
    const trace = buildTrace(name, settings);
    for (const policy of POLICY_NAMES) {
      for (const size of SIZE_RATIOS) {
        const ratio = missRatio(policy, capacityFor(settings.keys, size), trace);
        rows.push({ policy, workload: name, cacheSizeRatio: size, missRatio: Number(ratio.toFixed(6)), opsPerSecond: null });
      }
    }
    log(`${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const simulateSeconds = (performance.now() - simulateStart) / 1000;

  const throughputStart = performance.now();
  const { throughput, lruMedian } = await measureThroughput(settings, log);
  const throughputSeconds = (performance.now() - throughputStart) / 1000;
  for (const t of throughput) {
    const row = rows.find(
      (r) => r.policy === t.policy && r.workload === THROUGHPUT_WORKLOAD && r.cacheSizeRatio === THROUGHPUT_SIZE_RATIO,
    )!;
    row.opsPerSecond = Math.round(t.median);
  }

  writeFileSync(join(outDir, 'eviction.json'), `${JSON.stringify(rows, null, 2)}\n`);
  for (const [name, svg] of Object.entries(charts(rows, throughput, lruMedian, settings))) writeFileSync(join(outDir, name), svg);
  writeFileSync(join(outDir, 'eviction.md'), markdown(settings, quick, rows, throughput, { simulateSeconds, throughputSeconds }));

  for (const line of findings(rows, throughput)) log(line.replace(/\*\*/g, ''));
  log(`wrote eviction.json, eviction.md and ${WORKLOADS.length + 1} SVG charts to ${outDir}`);
  return rows;
}
