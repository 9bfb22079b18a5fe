/**
 * Stampede lab: what each stampede strategy of src/cache does to the origin and to client
 * latency when hot keys expire under load.
 *
 *   npm run lab -- stampede [--quick] [--out DIR]
 *
 * The orchestrator (this process) runs the origin, an HTTP server whose latency grows with its
 * concurrency, and for every strategy × instances × clients starts the service instances as
 * separate processes (lab/stampede-worker.ts) sharing one Redis. Each instance runs its share of
 * closed-loop clients reading Zipf-distributed keys through `createCache`. The origin logs every
 * load; the workers report every request; rows, a Markdown report and SVG charts go to `--out`.
 * One run is stampede-runner.ts, its row stampede-analysis.ts, the judgement (targets, findings,
 * recommended default) stampede-verdicts.ts and the writing stampede-report.ts.
 *
 * Seeded: key choices, think times and XFetch's random draws come from per-client / per-instance
 * mulberry32 streams. Timing (and so the exact counts) still depends on the OS scheduler.
 *
 * For development, STAMPEDE_STRATEGIES, STAMPEDE_INSTANCES and STAMPEDE_CLIENTS (comma-separated)
 * restrict the grid. Worker processes are killed when the lab ends, fails or is interrupted.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { STAMPEDE_STRATEGIES, type StampedeStrategy } from '../src/cache/cache.types.js';
import { fmt } from '../harness/format.js';
import { analyze } from './stampede-analysis.js';
import { startBackend } from './stampede-backend.js';
import { charts, markdown } from './stampede-report.js';
import { killAll, runOne } from './stampede-runner.js';
import { FULL, QUICK, REDIS_URL, type StampedeRow } from './stampede-settings.js';
import { recommend } from './stampede-verdicts.js';

export interface StampedeLabOptions {
  quick: boolean;
  out: string;
}

export async function runStampedeLab({ quick, out }: StampedeLabOptions): Promise<StampedeRow[]> {
  const settings = quick ? QUICK : FULL;
  const outDir = resolve(out);
  mkdirSync(outDir, { recursive: true });
  // Development filters (comma-separated): STAMPEDE_STRATEGIES, STAMPEDE_INSTANCES, STAMPEDE_CLIENTS.
  const only = (name: string) => process.env[name]?.split(',').filter(Boolean);
  const strategies = (only('STAMPEDE_STRATEGIES') as StampedeStrategy[] | undefined) ?? [...STAMPEDE_STRATEGIES];
  const instanceCounts = only('STAMPEDE_INSTANCES')?.map(Number) ?? settings.instances;
  const clientCounts = only('STAMPEDE_CLIENTS')?.map(Number) ?? settings.clients;
  const started = performance.now();
  const loadBefore = loadavg();
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const backend = await startBackend({ baseMs: settings.backendBaseMs, k: settings.backendK });
  const onSignal = () => {
    killAll();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const rows: StampedeRow[] = [];
  try {
    await redis.ping().catch((error: unknown) => {
      throw new Error(`stampede lab: Redis is not reachable at ${REDIS_URL} (${error instanceof Error ? error.message : String(error)})`);
    });
    for (const instances of instanceCounts) {
      for (const clients of clientCounts) {
        for (const strategy of strategies) {
          const t0 = performance.now();
          const data = await runOne({ strategy, instances, clients }, settings, backend, redis);
          const row = analyze(data, settings);
          rows.push(row);
          console.log(
            `[stampede] ${strategy.padEnd(12)} ${instances}×${String(clients).padStart(4)} clients: ` +
              `${fmt(row.requests)} req, ${row.expiries} expiries, ${row.recomputesPerExpiry} loads/expiry (hot ${row.hotRecomputesPerExpiry}, max ${row.maxRecomputesPerExpiry}), ` +
              `origin peak ${row.peakBackendConcurrency}, p50 ${row.p50Ms} p99 ${row.p99Ms} ms, steady/window p99 ` +
              `${row.steadyP99Ms}/${row.expiryWindowP99Ms} ms, stale ${row.staleServed}, errors ${row.errors} ` +
              `(${((performance.now() - t0) / 1000).toFixed(1)} s)`,
          );
        }
      }
    }
  } finally {
    killAll();
    await backend.close();
    redis.disconnect();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const seconds = (performance.now() - started) / 1000;
  writeFileSync(join(outDir, 'stampede.json'), `${JSON.stringify(rows, null, 2)}\n`);
  for (const [name, svg] of Object.entries(charts(rows, settings))) writeFileSync(join(outDir, name), svg);
  writeFileSync(join(outDir, 'stampede.md'), markdown(settings, quick, rows, seconds, { before: loadBefore, after: loadavg() }));
  const rec = recommend(rows);
  console.log(`[stampede] recommended default: ${rec.strategy ?? 'none found'} (${rec.reason})`);
  console.log(`[stampede] wrote ${join(outDir, 'stampede.json')}, stampede.md and 5 SVG charts`);
  return rows;
}
