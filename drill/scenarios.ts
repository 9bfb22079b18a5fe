/**
 * The six drills: what each one starts, breaks and restores, its default size, and what it adds
 * to the common targets. `inflict` breaks the thing (the fault starts when it is called);
 * `restore` resolves once the broken dependency accepts connections again (the fault's end).
 */
import type { OwnPostgres, OwnRedis } from '../test/support/dependencies.js';
import type { Instance } from './instances.js';
import type { Sink } from './sink.js';

export interface DrillContext {
  instances: Instance[];
  pg: OwnPostgres;
  redis: OwnRedis | undefined;
  eventsRedis: OwnRedis | undefined;
  sink: Sink | undefined;
  faultSeconds: number;
  /** Adds a line to the timeline, now. */
  mark(what: string): void;
}

export interface ScenarioDefaults {
  users: number;
  arrivalSeconds: number;
  faultAtSeconds: number;
  faultSeconds: number;
  maxActive: number;
  admitPerSecond: number;
}

export interface Scenario {
  name: string;
  /** One sentence for the report: what breaks and how. */
  fault: string;
  instances: number;
  redis: boolean;
  /** A redis-server of its own for the event streams, with an append-only file (EVENTS_REDIS_URL). */
  eventsRedis: boolean;
  /** The drill's data platform (DATA_PLATFORM_URL). */
  sink: boolean;
  /** The service's environment beyond the common one. */
  env: Record<string, string>;
  defaults: ScenarioDefaults;
  /** Whether "outbox drained" and "each confirmation consumed once" are targets here. */
  eventsAreTargets: boolean;
  inflict(c: DrillContext): Promise<void>;
  restore(c: DrillContext): Promise<void>;
}

/** The sale of every drill but overload: users arrive steadily, the fault lands mid-sale. */
const steady = (faultSeconds: number): ScenarioDefaults => ({
  users: 1200,
  arrivalSeconds: 90,
  faultAtSeconds: 35,
  faultSeconds,
  maxActive: 200,
  admitPerSecond: 50,
});

/** The instance kill-instance kills. */
export const KILLED = 1;

const killInstance: Scenario = {
  name: 'kill-instance',
  fault: 'kill -9 one of the three instances mid-sale (instance 1); start it again when the fault time is up',
  instances: 3,
  redis: true,
  eventsRedis: false,
  sink: false,
  env: {},
  defaults: steady(10),
  eventsAreTargets: false,
  inflict: (c) => c.instances[KILLED]!.kill('SIGKILL'),
  // Back when its process is started again; its readiness is measured by the probes.
  restore: async (c) => c.instances[KILLED]!.start(),
};

const postgresRestart: Scenario = {
  name: 'postgres-restart',
  fault: "fast shutdown of the drill's PostgreSQL; when the fault time is up, start it again on the same port and files",
  instances: 3,
  redis: true,
  eventsRedis: false,
  sink: false,
  env: {},
  defaults: steady(15),
  eventsAreTargets: false,
  inflict: (c) => c.pg.stop(),
  restore: (c) => c.pg.start(),
};

const redisLoss: Scenario = {
  name: 'redis-loss',
  fault: "SIGKILL the drill's redis-server (waiting room, L2 cache, rankings, rate limits, event streams); when the fault time is up, start it again, empty",
  instances: 3,
  redis: true,
  eventsRedis: false,
  sink: false,
  env: {},
  defaults: steady(5),
  eventsAreTargets: false,
  inflict: (c) => c.redis!.kill('SIGKILL'),
  restore: (c) => c.redis!.start(),
};

const brokerOutage: Scenario = {
  name: 'broker-outage',
  fault: 'SIGKILL the redis-server that holds the event streams (EVENTS_REDIS_URL, append-only file fsynced on every write); when the fault time is up, start it again from its file',
  instances: 3,
  redis: true,
  eventsRedis: true,
  sink: false,
  env: {},
  defaults: steady(30),
  eventsAreTargets: true,
  inflict: (c) => c.eventsRedis!.kill('SIGKILL'),
  restore: (c) => c.eventsRedis!.start(),
};

let hangTimer: NodeJS.Timeout | undefined;
const dataPlatformDown: Scenario = {
  name: 'data-platform-down',
  fault: "the drill's data platform (DATA_PLATFORM_URL) answers 500 to every export for the first half of the fault time, then takes requests and never answers for the second half",
  instances: 3,
  redis: true,
  eventsRedis: false,
  sink: true,
  env: {},
  defaults: steady(60),
  eventsAreTargets: true,
  inflict: async (c) => {
    c.sink!.mode = 'fail';
    hangTimer = setTimeout(() => {
      c.sink!.mode = 'hang';
      c.mark('data platform now hangs (takes requests, never answers)');
    }, (c.faultSeconds * 1000) / 2);
  },
  restore: async (c) => {
    clearTimeout(hangTimer);
    c.sink!.mode = 'ok';
  },
};

/** The crowd: five times QUEUE_MAX_ACTIVE users arriving within a few seconds. */
const overload: Scenario = {
  name: 'overload',
  fault: 'five times QUEUE_MAX_ACTIVE users arrive at once (within the arrival seconds); the fault window is their arrival, and recovery is the line emptying',
  instances: 3,
  redis: true,
  eventsRedis: false,
  sink: false,
  // Per-user limits on (joins, polls, holds, payments); the per-address limit out of the way, as
  // one generator on one address stands for every user.
  env: { RATE_LIMIT_ENABLED: 'true', RATE_LIMIT_PER_IP: '10000000', RATE_LIMIT_SIGNUP: '1000000' },
  defaults: { users: 600, arrivalSeconds: 3, faultAtSeconds: 0, faultSeconds: 3, maxActive: 120, admitPerSecond: 30 },
  eventsAreTargets: false,
  inflict: async () => {},
  restore: async () => {},
};

export const SCENARIOS: Record<string, Scenario> = Object.fromEntries(
  [killInstance, postgresRestart, redisLoss, brokerOutage, dataPlatformDown, overload].map((s) => [s.name, s]),
);
