/**
 * The eviction lab's throughput figures: each sample runs in a fresh child process (this module,
 * forked), so that no policy inherits another's JIT state or megamorphic call sites, and rounds
 * are interleaved across policies in a rotating order.
 */
import { fork } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createPolicy, isPolicyName, POLICY_NAMES, type PolicyName } from '../src/cache/eviction/policy.js';
import { buildTrace, capacityFor, THROUGHPUT_SIZE_RATIO, THROUGHPUT_WORKLOAD, type Settings } from './eviction-workloads.js';

interface ThroughputSample {
  policy: PolicyName;
  opsPerSecond: number;
  missRatio: number;
}

/** A policy's throughput over the rounds, and its median ratio to lru-cache within a round. */
export interface Throughput {
  policy: PolicyName;
  median: number;
  min: number;
  max: number;
  ratio: number;
  missRatio: number;
}

const WORKER_FLAG = '--eviction-throughput-worker';
const VALUE = { cached: true };

/**
 * Runs in the child: builds the Zipf 1.0 trace with string keys (as real cache keys are),
 * warms the JIT with one pass, then times three passes on fresh caches and reports the fastest.
 * Ops are cache calls: every get, plus the set after each miss. Time is the CPU time of this
 * process (all its threads, so GC counts), which time-slicing on the shared 2-core machine does
 * not inflate the way it inflates wall-clock time.
 */
function throughputWorker(policy: PolicyName, settings: Settings): ThroughputSample {
  const trace = buildTrace(THROUGHPUT_WORKLOAD, settings);
  const names = Array.from({ length: settings.keys }, (_, i) => `concert:${i}:seatmap`);
  const keys = Array.from(trace, (id) => names[id]!);
  const capacity = capacityFor(settings.keys, THROUGHPUT_SIZE_RATIO);
  const pass = () => {
    const cache = createPolicy<string, typeof VALUE>(policy, capacity);
    let sets = 0;
    const start = process.cpuUsage();
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i]!;
      if (cache.get(key) === undefined) {
        cache.set(key, VALUE);
        sets++;
      }
    }
    const used = process.cpuUsage(start);
    const seconds = (used.user + used.system) / 1e6;
    return { opsPerSecond: (keys.length + sets) / seconds, missRatio: sets / keys.length };
  };
  pass();
  // The machine is shared: interference only ever slows a pass down, so keep the fastest.
  const best = [pass(), pass(), pass()].sort((a, b) => b.opsPerSecond - a.opsPerSecond)[0]!;
  return { policy, opsPerSecond: best.opsPerSecond, missRatio: best.missRatio };
}

function measureInChild(policy: PolicyName, settings: Settings): Promise<ThroughputSample> {
  return new Promise((resolvePromise, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [WORKER_FLAG, policy, JSON.stringify(settings)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let sample: ThroughputSample | undefined;
    child.on('message', (message) => {
      sample = message as ThroughputSample;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0 && sample) resolvePromise(sample);
      else reject(new Error(`throughput worker for ${policy} exited with code ${code}`));
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Runs `settings.rounds` rounds, each measuring every policy in a fresh child, the order rotating
 * from round to round; returns each policy's figures and lru-cache's median ops/s.
 */
export async function measureThroughput(
  settings: Settings,
  log: (message: string) => void,
): Promise<{ throughput: Throughput[]; lruMedian: number }> {
  const samples = new Map<PolicyName, ThroughputSample[]>(POLICY_NAMES.map((p) => [p, []]));
  for (let round = 0; round < settings.rounds; round++) {
    const order = POLICY_NAMES.map((_, i) => POLICY_NAMES[(i + round) % POLICY_NAMES.length]!);
    for (const policy of order) samples.get(policy)!.push(await measureInChild(policy, settings));
    log(`throughput round ${round + 1}/${settings.rounds} done`);
  }
  const lruSamples = samples.get('lru')!.map((s) => s.opsPerSecond);
  const lruMedian = median(lruSamples);
  const throughput: Throughput[] = POLICY_NAMES.map((policy) => {
    const ops = samples.get(policy)!.map((s) => s.opsPerSecond);
    return {
      policy,
      median: median(ops),
      min: Math.min(...ops),
      max: Math.max(...ops),
      // Load on the shared machine drifts: compare with lru-cache within each round.
      ratio: median(ops.map((v, round) => v / lruSamples[round]!)),
      missRatio: samples.get(policy)![0]!.missRatio,
    };
  });
  return { throughput, lruMedian };
}

// When forked as a throughput worker: measure one policy and report to the parent.
if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url && process.argv[2] === WORKER_FLAG) {
  const policy = process.argv[3] ?? '';
  if (!isPolicyName(policy)) throw new Error(`unknown policy ${policy}`);
  const settings = JSON.parse(process.argv[4] ?? '{}') as Settings;
  const sample = throughputWorker(policy, settings);
  process.send?.(sample, () => process.exit(0));
}
