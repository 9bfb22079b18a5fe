/**
 * The capacity plan's arithmetic, pure: a sale of `seats` to `users` arriving evenly over
 * `arrivalSeconds`, from what one user does in a measured sale (a load report: requests of each
 * step per user, or per seat sold) and what each step costs (step-cost.json: service, PostgreSQL
 * and Redis CPU, Redis commands, WAL and rows per request). Polls come from the service's own rule
 * (queue.rules.ts), so they are computed for the line's length, not taken from the smaller sale.
 */
import { estimatedWaitSeconds, refreshAfterSeconds } from '../src/modules/queue/queue.rules.js';

export interface StepCost {
  redisCommands: number;
  redisCpuMs: number;
  serviceCpuMs: number;
  postgresCpuMs: number;
  walBytes: number;
  rowsWritten: number;
}

export interface StepCosts {
  steps: Record<string, StepCost>;
  memory: { bytesPerWaitingUser: number };
  /** What one instance's background loops cost per second with nobody in line (ms of CPU). */
  idlePerSecond: { serviceCpuMs: number; postgresCpuMs: number };
}

/** What the plan reads of a load report (load/report.ts). */
export interface ReportFigures {
  settings: { users: number; instances: number };
  requests: number;
  secondsWithGrace: number;
  steps: Record<string, { count: number }>;
  endings: Record<string, number>;
  counts: { seatsSold: number } | null;
  seats: number;
  cpu: { serviceSeconds: number | null; postgresSeconds: number | null };
  funnel: Record<string, number>;
  series: { timeline: Array<{ active: number }> };
}

export interface Target {
  users: number;
  arrivalSeconds: number;
  seats: number;
  admitPerSecond: number;
  /** Share of a core each service process may use at the peak (one Node process uses one core). */
  headroom: number;
}

/** Done by every user: on arrival, and once admitted (seat maps, leaving the line). */
export const ARRIVAL_STEPS = ['signup', 'topup', 'concerts', 'schedules', 'join'];
export const ADMITTED_STEPS = ['seats', 'leave'];
/** Done per seat sold: holds (lost races included), payments, cancellations. */
export const SEAT_STEPS = ['hold', 'pay', 'cancel'];
const POLL = 'poll (waiting)';

/** The journey of the measured sale, per user and per seat sold, and how long an admitted user stays active. */
export function journeyOf(report: ReportFigures) {
  const users = report.settings.users;
  const sold = report.counts?.seatsSold ?? report.seats;
  const count = (step: string) => report.steps[step]?.count ?? 0;
  const perUser = Object.fromEntries([...ARRIVAL_STEPS, ...ADMITTED_STEPS].map((s) => [s, count(s) / users]));
  const perSeat = Object.fromEntries(SEAT_STEPS.map((s) => [s, count(s) / sold]));
  const admitted = report.funnel.queue_admitted_total ?? users;
  // Little's law: users active on average over the run = admissions per second × seconds active each.
  const activeSecondsPerAdmitted = report.series.timeline.reduce((sum, p) => sum + p.active, 0) / admitted;
  // Users who held a seat (bought, bought and cancelled, or abandoned it) per seat sold.
  const heldPerSeat = ((report.endings.bought ?? 0) + (report.endings['bought-cancelled'] ?? 0) + (report.endings.abandoned ?? 0)) / sold;
  return { users, sold, perUser, perSeat, activeSecondsPerAdmitted, heldPerSeat, polls: count('poll') };
}

/** Polls per second from a line of `waiting` users admitted at `admitPerSecond`, each polling as refreshAfterSeconds says. */
export function pollsPerSecond(waiting: number, admitPerSecond: number): number {
  let polls = 0;
  for (let position = 1; position <= waiting; position++) polls += 1 / refreshAfterSeconds(estimatedWaitSeconds(position, admitPerSecond));
  return polls;
}

const costOf = (costs: StepCosts, step: string): StepCost => {
  const c = costs.steps[step];
  if (!c) throw new Error(`no measured cost for the step "${step}" (run npm run capacity:measure)`);
  return c;
};

type Rates = Record<string, number>;
const sum = (rates: Rates, costs: StepCosts, figure: keyof StepCost) =>
  Object.entries(rates).reduce((total, [step, perSecond]) => total + perSecond * costOf(costs, step)[figure], 0);

/**
 * The measured sale's service and PostgreSQL CPU as the step costs predict it (its requests, plus
 * each instance's idle background work for the run's length), against what was measured: how far
 * the costs of one step at a time, 50 at once, fall short of a whole sale's.
 */
export function modelCheck(report: ReportFigures, costs: StepCosts) {
  const counts: Rates = Object.fromEntries([...ARRIVAL_STEPS, ...ADMITTED_STEPS, ...SEAT_STEPS].map((s) => [s, report.steps[s]?.count ?? 0]));
  counts[POLL] = report.steps.poll?.count ?? 0;
  const instanceSeconds = report.settings.instances * report.secondsWithGrace;
  const check = (figure: 'serviceCpuMs' | 'postgresCpuMs', measured: number | null) => {
    const predicted = (sum(counts, costs, figure) + costs.idlePerSecond[figure] * instanceSeconds) / 1000;
    return { predicted, measured, ratio: measured ? measured / predicted : null };
  };
  return { serviceSeconds: check('serviceCpuMs', report.cpu.serviceSeconds), postgresSeconds: check('postgresCpuMs', report.cpu.postgresSeconds) };
}

/**
 * The sale at its peak: the line as it is at the end of the arrivals (longest, so most polls), the
 * arrivals' steps at their rate, and the booking steps at the rate seats sell while they last. A
 * sale that sells out before the arrivals end never has both at once: the sum is a bound above
 * either moment, what the service must be sized for. Every figure per second unless its name says
 * otherwise.
 */
export function plan(target: Target, journey: ReturnType<typeof journeyOf>, costs: StepCosts) {
  const { users, arrivalSeconds, seats, admitPerSecond: A } = target;
  const arrivals = users / arrivalSeconds;
  const admittedToSellOut = seats * journey.heldPerSeat;
  const sellOutSeconds = admittedToSellOut / A;
  const peakWaiting = Math.max(0, Math.round(users - Math.min(arrivals, A) * arrivalSeconds));
  const rates: Rates = {};
  for (const s of ARRIVAL_STEPS) rates[s] = arrivals * journey.perUser[s]!;
  for (const s of ADMITTED_STEPS) rates[s] = Math.min(arrivals, A) * journey.perUser[s]!;
  for (const s of SEAT_STEPS) rates[s] = (A / journey.heldPerSeat) * journey.perSeat[s]!;
  rates[POLL] = pollsPerSecond(peakWaiting, A);
  const requests = Object.values(rates).reduce((a, b) => a + b, 0);
  const serviceCores = sum(rates, costs, 'serviceCpuMs') / 1000;
  const buyer = ['signup', 'topup', 'join', 'hold', 'pay'];
  return {
    arrivalsPerSecond: arrivals,
    seatsSoldPerSecond: A / journey.heldPerSeat,
    sellOutSeconds,
    peakWaiting,
    drainSeconds: peakWaiting / A,
    rates,
    requestsPerSecond: requests,
    pollShare: rates[POLL]! / requests,
    serviceCores,
    instances: Math.ceil(serviceCores / target.headroom),
    postgresCores: sum(rates, costs, 'postgresCpuMs') / 1000,
    walBytesPerSecond: sum(rates, costs, 'walBytes'),
    rowsPerSecond: sum(rates, costs, 'rowsWritten'),
    walBytesPerBuyer: buyer.reduce((t, s) => t + costOf(costs, s).walBytes, 0),
    rowsPerBuyer: buyer.reduce((t, s) => t + costOf(costs, s).rowsWritten, 0),
    redisCommandsPerSecond: sum(rates, costs, 'redisCommands'),
    /** Redis runs commands on one core, and one concert's line is one key slot: this share of a core cannot be spread. */
    redisCoreShare: sum(rates, costs, 'redisCpuMs') / 1000,
    redisBytesForLine: peakWaiting * costs.memory.bytesPerWaitingUser,
    maxActive: Math.ceil(A * journey.activeSecondsPerAdmitted),
  };
}

export type Plan = ReturnType<typeof plan>;

/** The resource that runs out first: the one nearest its limit, where a limit cannot be bought away by adding instances. */
export function firstBottleneck(p: Plan, limits: { postgresCores: number; redisCoreShare: number }): string {
  const loads = [
    { name: `Redis (one core for the line: ${(p.redisCoreShare * 100).toFixed(0)}% of it)`, load: p.redisCoreShare / limits.redisCoreShare },
    { name: `PostgreSQL CPU (${p.postgresCores.toFixed(1)} of ${limits.postgresCores} cores)`, load: p.postgresCores / limits.postgresCores },
  ].sort((a, b) => b.load - a.load);
  return loads[0]!.name;
}
