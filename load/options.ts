/** The load test's command line: flags, their defaults, and what a bad value says. */
import { parseArgs } from 'node:util';
import { parseThresholds, type Thresholds } from './thresholds.js';

export interface Options {
  users: number;
  arrivalSeconds: number;
  maxSeconds: number;
  seed: number;
  /** Service processes to start (ignored with `targets`). */
  instances: number;
  /** Base URLs of a running deployment; empty: start our own system. */
  targets: string[];
  adminToken: string | undefined;
  /** Where invariants are checked: DATABASE_URL or --database-url; with our own system, its database. */
  databaseUrl: string | undefined;
  redisUrl: string | undefined;
  out: string | undefined;
  schedules: number;
  seatsPerSchedule: number;
  /** Shares of users who abandon their hold, and who cancel after paying. */
  abandonShare: number;
  cancelShare: number;
  /** Mean think time between steps, in seconds (exponential, capped at 4x). */
  thinkSeconds: number;
  holdAttempts: number;
  holdTtlSeconds: number;
  admitPerSecond: number;
  maxActive: number;
  /** DATABASE_POOL_SIZE of the started service (undefined: its default). */
  poolSize: number | undefined;
  progressSeconds: number;
  /** Seconds a line poll asks the server to hold its answer while the user waits (0: plain polls). */
  pollWaitSeconds: number;
  /** Users who first buy out a small concert of their own, unmeasured, so the sale meets warm instances (0: none). */
  warmupUsers: number;
  /** Skip the SQL invariants (only with --target and no database to reach); the report says so. */
  noInvariants: boolean;
  thresholds: Thresholds;
}

const HELP = `npm run load -- [flags]        (docs/load.md)

  --users N                 virtual users (1000)
  --arrival-seconds S       users arrive evenly over S seconds (60)
  --max-seconds S           stop the sale after S seconds even if users are left (300)
  --seed N                  seed of every random choice (1)
  --instances N             service processes to start (3 with REDIS_URL, else 1)
  --target URL[,URL...]     drive a running deployment instead (needs --admin-token)
  --admin-token T           the deployment's ADMIN_TOKEN (with --target)
  --database-url URL        the deployment's database, for the invariants (default DATABASE_URL;
                            --target refuses to run without one)
  --no-invariants           with --target and no database: run anyway, report invariants "not checked"
  --out DIR                 write load.json, load.md and the charts there
  --schedules N             schedules of the sale's concert (2)
  --seats-per-schedule N    seats per schedule (users / 2 / schedules: half the users get a seat)
  --abandon-share F         share of users who let their hold expire (0.1)
  --cancel-share F          share of buyers who cancel after paying (0.05)
  --think-seconds S         mean think time between steps (1)
  --hold-attempts N         holds a user tries before giving up (10)
  --hold-ttl S              HOLD_TTL_SECONDS of the started service (30)
  --admit-per-second N      QUEUE_ADMIT_PER_SECOND of the started service (100)
  --max-active N            QUEUE_MAX_ACTIVE of the started service (200)
  --pool-size N             DATABASE_POOL_SIZE of each started instance (the service's default)
  --progress-seconds S      progress line every S seconds (5)
  --warmup-users N          before the sale, N users buy out a small concert of their own over 10 s,
                            unmeasured, so the sale meets warm instances (0: the sale meets them cold) (0)
  --poll-wait S             line polls ask the server to hold the answer up to S s until the turn
                            comes (GET .../queue?wait=S; at most 30; 0: plain polls) (20)
  --p95 MS|STEP=MS,...      p95 thresholds in ms (50 for every step; '50,hold=300,pay=300')
  --p99 MS|STEP=MS,...      p99 thresholds in ms (100 for every step)
  --max-unexpected-rate F   unexpected errors / requests (0.001)
  --max-5xx N               5xx answers allowed (0)
  --max-unfinished N        users allowed not to finish: failed, cut off, never arrived (0)
  --no-latency-thresholds   check no p95/p99 (for CI on a shared machine)
`;

const STRING_FLAGS = [
  'users', 'arrival-seconds', 'max-seconds', 'seed', 'instances', 'target', 'admin-token', 'database-url', 'out',
  'schedules', 'seats-per-schedule', 'abandon-share', 'cancel-share', 'think-seconds', 'hold-attempts', 'hold-ttl',
  'admit-per-second', 'max-active', 'pool-size', 'progress-seconds', 'warmup-users', 'poll-wait', 'p95', 'p99', 'max-unexpected-rate', 'max-5xx',
  'max-unfinished',
];

function int(name: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got '${value}'`);
  return n;
}

function seconds(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 60) throw new Error(`--${name} must be between 0 and 60 seconds, got '${value}'`);
  return n;
}

function share(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new Error(`--${name} must be between 0 and 1, got '${value}'`);
  return n;
}

function pollWait(value: string | undefined): number {
  const n = int('poll-wait', value, 20);
  if (n > 30) throw new Error(`--poll-wait must be at most 30 (the server's longest hold), got '${value}'`);
  return n;
}

/** Parses argv (without node and the script); prints the help and exits on --help. */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): Options {
  const options: Record<string, { type: 'string' | 'boolean' }> = { 'no-latency-thresholds': { type: 'boolean' }, 'no-invariants': { type: 'boolean' }, help: { type: 'boolean' } };
  for (const name of STRING_FLAGS) options[name] = { type: 'string' };
  const v = parseArgs({ args: argv, strict: true, options }).values as Record<string, string | boolean | undefined>;
  const s = (name: string) => v[name] as string | undefined;
  if (v.help) {
    console.log(HELP);
    process.exit(0);
  }
  const users = int('users', s('users'), 1000, 1);
  const schedules = int('schedules', s('schedules'), 2, 1);
  const targets = (s('target') ?? '').split(',').map((t) => t.trim().replace(/\/$/, '')).filter(Boolean);
  const adminToken = s('admin-token');
  if (targets.length > 0 && !adminToken) throw new Error('--target needs --admin-token (the deployment\'s ADMIN_TOKEN)');
  const databaseUrl = s('database-url') ?? (env.DATABASE_URL || undefined);
  const noInvariants = v['no-invariants'] === true;
  if (targets.length > 0 && !databaseUrl && !noInvariants) {
    throw new Error('--target needs --database-url (or DATABASE_URL) to check the invariants; --no-invariants runs without them');
  }
  const redisUrl = env.REDIS_URL || undefined;
  const instances = int('instances', s('instances'), redisUrl ? 3 : 1, 1);
  if (targets.length === 0 && instances > 1 && !redisUrl) {
    throw new Error('--instances > 1 needs REDIS_URL: without it each instance keeps its own waiting room');
  }
  const unexpected = s('max-unexpected-rate');
  return {
    users,
    arrivalSeconds: int('arrival-seconds', s('arrival-seconds'), 60),
    maxSeconds: int('max-seconds', s('max-seconds'), 300, 1),
    seed: int('seed', s('seed'), 1),
    instances,
    targets,
    adminToken,
    databaseUrl,
    redisUrl,
    out: s('out'),
    schedules,
    seatsPerSchedule: int('seats-per-schedule', s('seats-per-schedule'), Math.max(1, Math.min(5000, Math.round(users / 2 / schedules))), 1),
    abandonShare: share('abandon-share', s('abandon-share'), 0.1),
    cancelShare: share('cancel-share', s('cancel-share'), 0.05),
    thinkSeconds: seconds('think-seconds', s('think-seconds'), 1),
    holdAttempts: int('hold-attempts', s('hold-attempts'), 10, 1),
    holdTtlSeconds: int('hold-ttl', s('hold-ttl'), 30, 1),
    admitPerSecond: int('admit-per-second', s('admit-per-second'), 100, 1),
    maxActive: int('max-active', s('max-active'), 200, 1),
    poolSize: s('pool-size') === undefined ? undefined : int('pool-size', s('pool-size'), 0, 1),
    progressSeconds: int('progress-seconds', s('progress-seconds'), 5, 1),
    pollWaitSeconds: pollWait(s('poll-wait')),
    warmupUsers: int('warmup-users', s('warmup-users'), 0),
    noInvariants,
    thresholds: parseThresholds({
      p95: s('p95') ?? '50',
      p99: s('p99') ?? '100',
      latency: !v['no-latency-thresholds'],
      maxUnexpectedRate: unexpected === undefined ? 0.001 : share('max-unexpected-rate', unexpected, 0.001),
      max5xx: int('max-5xx', s('max-5xx'), 0),
      maxUnfinished: int('max-unfinished', s('max-unfinished'), 0),
    }),
  };
}
