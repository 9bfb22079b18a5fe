/**
 * Drives the sale as an open model: each user arrives at the time its plan says, whatever the
 * server is doing, and runs its journey; a progress line every few seconds; the sale ends when every
 * user is done or at the deadline, after which journeys still sleeping are cut off.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createClient, type Answer, type Client } from './client.js';
import { Journey } from './journey.js';
import { planUser } from './plan.js';
import { Recorder } from './recorder.js';
import { Sale } from './sale.js';

export interface DriveSettings {
  targets: string[];
  concertId: string;
  price: number;
  users: number;
  arrivalSeconds: number;
  maxSeconds: number;
  seed: number;
  abandonShare: number;
  cancelShare: number;
  thinkSeconds: number;
  holdAttempts: number;
  progressSeconds: number;
  /** Builds the users' client (default createClient: round-robin over the targets); a failure drill passes its own balancer. */
  client?: (targets: string[], recorder: Recorder) => Client;
  /** Seconds a line poll asks the server to hold its answer (`?wait=`); 0 or absent: plain polls. */
  pollWaitSeconds?: number;
}

/** Seconds a journey may still need after the deadline (one request's timeout, with margin). */
const GRACE_SECONDS = 35;
/** Least wait before a user looks again for a seat while every free one is held. */
const LOOK_AGAIN_MS = 2_000;

export interface Driven {
  sale: Sale;
  recorder: Recorder;
  /** Until every user was done or the deadline. */
  seconds: number;
  /** Until the last request ended (the grace period after the deadline included). */
  secondsWithGrace: number;
  /** The generator's own event-loop delay (ms): high values mean the generator, not the server, was slow. */
  loopDelayMs: { p50: number; p99: number; max: number };
}

export async function drive(s: DriveSettings): Promise<Driven> {
  const startMs = Date.now();
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const recorder = new Recorder(startMs);
  const sale = new Sale(startMs);
  const client = (s.client ?? createClient)(s.targets, recorder);
  const deadlineMs = startMs + s.maxSeconds * 1000;
  const ctx = {
    call: client.call,
    sale,
    concertId: s.concertId,
    price: s.price,
    thinkSeconds: s.thinkSeconds,
    holdAttempts: s.holdAttempts,
    deadlineMs,
    onRetry: () => recorder.retries++,
    onFailure: (step: string, a: Answer) => recorder.recordFailure(step, Date.now(), a.status, a.code ?? ''),
    lookAgainMs: LOOK_AGAIN_MS,
    pollWaitSeconds: s.pollWaitSeconds ?? 0,
  };
  const journeys: Promise<unknown>[] = [];
  const timers = Array.from({ length: s.users }, (_, i) => {
    const plan = planUser(s, i);
    return setTimeout(() => journeys.push(new Journey(plan, ctx).run()), plan.arriveAtMs);
  });

  let lastRequests = 0;
  let lastProgressMs = startMs;
  const ticker = setInterval(() => {
    sale.sample();
    const now = Date.now();
    if (now - lastProgressMs < s.progressSeconds * 1000 - 500) return;
    const second = Math.round((now - startMs) / 1000);
    const rate = Math.round(((recorder.requests - lastRequests) * 1000) / (now - lastProgressMs));
    lastProgressMs = now;
    lastRequests = recorder.requests;
    console.log(
      `t=${String(second).padStart(4)}s  arrived ${sale.arrived}/${s.users}  in line ${sale.waiting}  active ${sale.active}  done ${sale.done}` +
        `  ${rate} req/s  errors ${recorder.unexpected} unexpected, ${recorder.status5xx} 5xx` +
        (recorder.shed ? ` (${recorder.shed} shed)` : ''),
    );
  }, 1000);

  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (sale.done === s.users || Date.now() > deadlineMs) {
        clearInterval(check);
        resolve();
      }
    }, 100);
  });
  const seconds = (Date.now() - startMs) / 1000;
  if (sale.done < s.users) {
    // Users who had not arrived yet never will; those on their way get a last chance to finish.
    timers.forEach(clearTimeout);
    const notArrived = s.users - sale.arrived;
    if (notArrived > 0) sale.endings['not-arrived'] = notArrived;
    await Promise.race([Promise.all(journeys), new Promise((r) => setTimeout(r, GRACE_SECONDS * 1000))]);
  }
  const secondsWithGrace = (Date.now() - startMs) / 1000;
  clearInterval(ticker);
  sale.sample();
  client.close();
  loopDelay.disable();
  const ms = (ns: number) => Math.round(ns / 1e4) / 100;
  return { sale, recorder, seconds, secondsWithGrace, loopDelayMs: { p50: ms(loopDelay.percentile(50)), p99: ms(loopDelay.percentile(99)), max: ms(loopDelay.max) } };
}
