/**
 * What the rows say: the recommended default strategy, the targets met or missed, and the
 * findings written into the report.
 */
import type { StampedeStrategy } from '../src/cache/cache.types.js';
import { fmt, round } from '../harness/format.js';
import {
  HOT_KEYS,
  MAX_RECOMPUTES_PER_EXPIRY,
  TARGET_CLIENTS,
  TARGET_INSTANCES,
  type Settings,
  type StampedeRow,
} from './stampede-settings.js';

export interface Verdict {
  text: string;
  ok: boolean;
}

function pick(rows: StampedeRow[], strategy: StampedeStrategy, instances = TARGET_INSTANCES, clients = TARGET_CLIENTS) {
  return rows.find((r) => r.strategy === strategy && r.instances === instances && r.clients === clients);
}

/** A run counts as healthy if at most 0.1% of its requests failed. */
const healthy = (r: StampedeRow) => r.errors <= r.requests * 0.001;

/**
 * The default: at TARGET_INSTANCES instances and TARGET_CLIENTS clients, the lowest expiry-window
 * p99 among healthy strategies with recomputes per expiry ≤ MAX_RECOMPUTES_PER_EXPIRY, over all keys
 * and over the HOT_KEYS hottest. If none qualifies, among those whose hot keys see at most
 * MAX_RECOMPUTES_PER_EXPIRY × instances loads per expiry (no crowd-driven stampede).
 */
export function recommend(rows: StampedeRow[]): { strategy: StampedeStrategy | undefined; reason: string } {
  const at = rows.filter((r) => r.instances === TARGET_INSTANCES && r.clients === TARGET_CLIENTS && healthy(r));
  const where = `${TARGET_INSTANCES} instances / ${fmt(TARGET_CLIENTS)} clients`;
  const best = (list: StampedeRow[]) => [...list].sort((x, y) => x.expiryWindowP99Ms - y.expiryWindowP99Ms || x.p99Ms - y.p99Ms)[0];
  const list = (xs: StampedeRow[]) =>
    xs.map((r) => `${r.strategy} ${r.recomputesPerExpiry}, hot ${r.hotRecomputesPerExpiry}`).join('; ');
  // The mean over all keys is diluted by the many single-reader expiries of the Zipf tail (it
  // admits even `none`), so the bound must hold on the hot keys too.
  const eligible = at.filter(
    (r) => r.recomputesPerExpiry <= MAX_RECOMPUTES_PER_EXPIRY && r.hotRecomputesPerExpiry <= MAX_RECOMPUTES_PER_EXPIRY,
  );
  const chosen = best(eligible);
  if (chosen) {
    const others = eligible.filter((r) => r !== chosen).map((r) => `${r.strategy} ${r.expiryWindowP99Ms} ms`);
    return {
      strategy: chosen.strategy,
      reason:
        `at ${where} it has the lowest expiry-window p99 (${chosen.expiryWindowP99Ms} ms${others.length ? `; ${others.join(', ')}` : ''}) ` +
        `among the strategies that keep recomputes per expiry ≤ ${MAX_RECOMPUTES_PER_EXPIRY} over all keys and over the ` +
        `${HOT_KEYS} hottest (${list(eligible)}; the others: ${list(at.filter((r) => !eligible.includes(r))) || 'none'})`,
    };
  }
  if (at.length === 0) return { strategy: undefined, reason: `no healthy run at ${where}` };
  // Nobody meets the bound: keep the strategies whose origin load does not grow with the crowd,
  // i.e. at most about one load per instance per expiry of a hot key.
  const bounded = at.filter((r) => r.hotRecomputesPerExpiry <= MAX_RECOMPUTES_PER_EXPIRY * r.instances);
  const fallback = best(bounded);
  if (!fallback) return { strategy: undefined, reason: `every strategy stampedes at ${where} (${list(at)})` };
  return {
    strategy: fallback.strategy,
    reason:
      `no strategy keeps recomputes per expiry ≤ ${MAX_RECOMPUTES_PER_EXPIRY} at ${where} (${list(at)}), so the bound falls ` +
      `back to "hot-key recomputes per expiry ≤ ${MAX_RECOMPUTES_PER_EXPIRY} × instances" (no crowd-driven stampede: ` +
      `${bounded.map((r) => `${r.strategy} ${r.hotRecomputesPerExpiry}`).join(', ')}); among those it has the lowest ` +
      `expiry-window p99 (${fallback.expiryWindowP99Ms} ms; ${bounded
        .filter((r) => r !== fallback)
        .map((r) => `${r.strategy} ${r.expiryWindowP99Ms} ms`)
        .join(', ')})`,
  };
}

const ratio = (a: number, b: number) => round(a / Math.max(b, 0.01), 1);

export function targets(rows: StampedeRow[]): Verdict[] {
  const out: Verdict[] = [];
  const none = pick(rows, 'none');
  const lock = pick(rows, 'lock');
  if (lock) {
    out.push({
      ok: lock.recomputesPerExpiry <= 1.05,
      text:
        `\`lock\` keeps recomputes per expiry at 1: **${lock.recomputesPerExpiry}** (hot keys ${lock.hotRecomputesPerExpiry}, ` +
        `largest burst ${lock.maxRecomputesPerExpiry} loads).`,
    });
  }
  if (none && lock) {
    out.push({
      ok: none.hotRecomputesPerExpiry >= 3 * Math.max(1, lock.hotRecomputesPerExpiry),
      text:
        `\`none\` shows the stampede: hot keys ${none.hotRecomputesPerExpiry} loads per expiry (lock ${lock.hotRecomputesPerExpiry}), ` +
        `largest burst ${none.maxRecomputesPerExpiry} loads (lock ${lock.maxRecomputesPerExpiry}), ${none.recomputesPerExpiry} over all keys; ` +
        `origin peak ${none.peakBackendConcurrency} in flight (lock ${lock.peakBackendConcurrency}); p99 ${none.p99Ms} ms (lock ${lock.p99Ms} ms).`,
    });
  }
  for (const strategy of ['xfetch', 'swr'] as const) {
    const r = pick(rows, strategy);
    if (!r) continue;
    out.push({
      ok: r.expiryWindowP99Ms <= 2 * r.steadyP99Ms,
      text:
        `\`${strategy}\` expiry-window p99 ${r.expiryWindowP99Ms} ms vs steady p99 ${r.steadyP99Ms} ms: ` +
        `**${ratio(r.expiryWindowP99Ms, r.steadyP99Ms)}×** (target ≤ 2×). Hot keys only: ${r.hotExpiryWindowP99Ms} ms vs ` +
        `${r.hotSteadyP99Ms} ms.`,
    });
  }
  return out;
}

export function findings(rows: StampedeRow[], settings: Settings): string[] {
  const out: string[] = [];
  const at = (s: StampedeStrategy, instances = TARGET_INSTANCES) => pick(rows, s, instances);
  const none = at('none');
  const lock = at('lock');
  const lock1 = at('lock', 1);
  const where = `${TARGET_INSTANCES} instances, ${fmt(TARGET_CLIENTS)} clients`;
  if (none && lock) {
    out.push(
      `**The stampede** (${where}): without protection a hot key's expiry sends every reader that arrives during the ` +
        `reload to the origin — ${none.hotRecomputesPerExpiry} loads per expiry on the ${HOT_KEYS} hottest keys, up to ` +
        `${none.maxRecomputesPerExpiry} for one expiry — versus ${lock.hotRecomputesPerExpiry} (at most ${lock.maxRecomputesPerExpiry}) ` +
        `with \`lock\`. Origin peak concurrency ${none.peakBackendConcurrency} vs ${lock.peakBackendConcurrency}, peak rate ` +
        `${fmt(none.peakBackendQps100ms)} vs ${fmt(lock.peakBackendQps100ms)} loads/s, and p99 ${none.p99Ms} ms vs ${lock.p99Ms} ms. ` +
        `Over all keys the mean is ${none.recomputesPerExpiry} vs ${lock.recomputesPerExpiry}: most of the ${fmt(settings.keys)} ` +
        'Zipf keys are read only a few times per TTL, so most expiries have a single reader and dilute the mean.',
    );
  }
  if (lock && lock1) {
    const perInstance = lock.hotRecomputesPerExpiry > 1.2 && lock1.hotRecomputesPerExpiry <= 1.1;
    out.push(
      `**\`lock\` across instances**: ${lock1.recomputesPerExpiry} recomputes per expiry with 1 instance (hot keys ` +
        `${lock1.hotRecomputesPerExpiry}), ${lock.recomputesPerExpiry} with ${TARGET_INSTANCES} (hot keys ${lock.hotRecomputesPerExpiry}, ` +
        `largest burst ${lock.maxRecomputesPerExpiry}).` +
        (perInstance
          ? ' The extra loads come from the cache, not from the lab: an instance whose L1 copy has gone stale never ' +
            "looks at L2 again; while another instance holds the lease it serves stale, and as soon as that lease is released it " +
            'takes the lease itself and reloads, although L2 already holds the fresh value. So each instance recomputes once ' +
            'per expiry (≈ instances loads per expiry on hot keys). `swr` has the same pattern (its background refresh takes ' +
            'the same lease) and `xfetch`/`singleflight` are per instance by design.'
          : ''),
    );
  }
  for (const strategy of ['xfetch', 'swr'] as const) {
    const r = at(strategy);
    if (!r) continue;
    const met = r.expiryWindowP99Ms <= 2 * r.steadyP99Ms;
    const hotMet = r.hotExpiryWindowP99Ms <= 2 * Math.max(r.hotSteadyP99Ms, 1);
    out.push(
      `**\`${strategy}\` around expiries**: expiry-window p99 ${r.expiryWindowP99Ms} ms vs steady ${r.steadyP99Ms} ms ` +
        `(${ratio(r.expiryWindowP99Ms, r.steadyP99Ms)}×); on the hot keys ${r.hotExpiryWindowP99Ms} vs ${r.hotSteadyP99Ms} ms. ` +
        `${round(r.expiryWindowLoaderShare * 100, 1)}% of its expiry-window requests ran their own load and waited for the origin` +
        (met
          ? '.'
          : r.expiryWindowLoaderShare > 0.01
            ? ` — more than 1%, so the window's p99 is an origin round trip whatever the strategy does about crowds. ` +
              (strategy === 'xfetch'
                ? 'XFetch recomputes synchronously: the reader that draws the early refresh waits for it, and keys read less ' +
                  'often than about once per β·Δ before expiry (the long Zipf tail) are not refreshed early at all and simply miss.'
                : `These are keys nobody read within TTL + staleMs (${settings.ttlMs + settings.staleMs} ms): their value is gone, ` +
                  'so there is nothing stale to serve.') +
              (hotMet ? ' On the hot keys, where stampedes happen, the target holds (their steady p99 taken as at least 1 ms).' : '')
            : '.'),
    );
  }
  const target = rows.filter((r) => r.instances === TARGET_INSTANCES && r.clients === TARGET_CLIENTS);
  const byP99 = [...target].sort((x, y) => x.p99Ms - y.p99Ms);
  const byWindow = [...target].sort((x, y) => x.expiryWindowP99Ms - y.expiryWindowP99Ms);
  if (byP99[0] && byWindow[0]) {
    out.push(
      `**Lowest p99** (${where}): ${byP99.map((r) => `\`${r.strategy}\` ${r.p99Ms} ms`).join(', ')}. ` +
        `Lowest expiry-window p99: ${byWindow.map((r) => `\`${r.strategy}\` ${r.expiryWindowP99Ms} ms`).join(', ')}.`,
    );
  }
  return out;
}
