/** The drill's command line: the scenario, the sale's size, when the fault lands and for how long. */
import { parseArgs } from 'node:util';
import { SCENARIOS, type Scenario } from './scenarios.js';

export interface DrillOptions {
  scenario: Scenario;
  users: number;
  arrivalSeconds: number;
  faultAtSeconds: number;
  faultSeconds: number;
  maxSeconds: number;
  seed: number;
  holdTtlSeconds: number;
  maxActive: number;
  admitPerSecond: number;
  poolSize: number;
  prometheus: boolean;
  out: string;
}

export const HELP = `npm run drill -- <scenario> [flags]        (docs/drills.md)

scenarios: ${Object.keys(SCENARIOS).join(', ')}

  --users N              virtual users (1200; overload: 5 x --max-active)
  --arrival-seconds S    users arrive evenly over S seconds (90; overload: 3)
  --fault-at S           the fault starts S seconds into the sale (35; overload: 0)
  --fault-seconds S      how long it lasts (the scenario's: 10, 15, 5, 30, 60; overload: the arrival)
  --max-seconds S        the sale stops then even if users are left (arrival + 120)
  --seed N               seed of every random choice (1)
  --hold-ttl S           HOLD_TTL_SECONDS of the instances (30)
  --max-active N         QUEUE_MAX_ACTIVE (200; overload: 120)
  --admit-per-second N   QUEUE_ADMIT_PER_SECOND (50; overload: 30)
  --pool-size N          DATABASE_POOL_SIZE of each instance (16)
  --no-prometheus        do not start Prometheus (alerts "not evaluated")
  --out DIR              where drill.json, drill.md and timeline.svg go (docs/drills/<scenario>)
`;

function int(name: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got '${value}'`);
  return n;
}

export function parseDrillOptions(argv: string[]): DrillOptions {
  const names = ['users', 'arrival-seconds', 'fault-at', 'fault-seconds', 'max-seconds', 'seed', 'hold-ttl', 'max-active', 'admit-per-second', 'pool-size', 'out'];
  const options: Record<string, { type: 'string' | 'boolean' }> = { 'no-prometheus': { type: 'boolean' }, help: { type: 'boolean' } };
  for (const n of names) options[n] = { type: 'string' };
  const { values, positionals } = parseArgs({ args: argv, strict: true, allowPositionals: true, options });
  const v = values as Record<string, string | boolean | undefined>;
  if (v.help) {
    console.log(HELP);
    process.exit(0);
  }
  const scenario = SCENARIOS[positionals[0] ?? ''];
  if (!scenario || positionals.length !== 1) throw new Error(`name one scenario: ${Object.keys(SCENARIOS).join(', ')} (got '${positionals.join(' ')}')\n\n${HELP}`);
  const s = (n: string) => v[n] as string | undefined;
  const d = scenario.defaults;
  const maxActive = int('max-active', s('max-active'), d.maxActive, 1);
  const overload = scenario.name === 'overload';
  const arrivalSeconds = int('arrival-seconds', s('arrival-seconds'), d.arrivalSeconds, 1);
  const faultAtSeconds = int('fault-at', s('fault-at'), d.faultAtSeconds);
  const faultSeconds = int('fault-seconds', s('fault-seconds'), overload ? arrivalSeconds : d.faultSeconds, 1);
  const maxSeconds = int('max-seconds', s('max-seconds'), arrivalSeconds + 120, 1);
  if (!overload && faultAtSeconds >= arrivalSeconds) throw new Error(`--fault-at (${faultAtSeconds}) must fall within the arrivals (--arrival-seconds ${arrivalSeconds}): the fault lands mid-sale`);
  if (faultAtSeconds + faultSeconds >= maxSeconds) throw new Error('the fault must end before --max-seconds');
  return {
    scenario,
    users: int('users', s('users'), overload ? 5 * maxActive : d.users, 1),
    arrivalSeconds,
    faultAtSeconds,
    faultSeconds,
    maxSeconds,
    seed: int('seed', s('seed'), 1),
    holdTtlSeconds: int('hold-ttl', s('hold-ttl'), 30, 1),
    maxActive,
    admitPerSecond: int('admit-per-second', s('admit-per-second'), d.admitPerSecond, 1),
    poolSize: int('pool-size', s('pool-size'), 16, 1),
    prometheus: v['no-prometheus'] !== true,
    out: s('out') ?? `docs/drills/${scenario.name}`,
  };
}
