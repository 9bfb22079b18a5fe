/**
 * The virtual users' HTTP client: keep-alive connections (node:http Agent, as many as requests in
 * flight), requests spread over the instances round-robin as a load balancer would, and every
 * request timed into the recorder (a line poll the server held on purpose: the time beyond the hold).
 */
import http from 'node:http';
import type { Outcome, Recorder } from './recorder.js';

export interface Answer {
  /** 0 when the request failed on the network (refused, reset, timed out). */
  status: number;
  body: any;
  code: string | undefined;
  /** The Retry-After header of a 429 or 503, in seconds. */
  retryAfterSeconds: number | undefined;
  /** How the recorder counted it (outcomeOf). */
  outcome: Outcome;
  /** How long the server held the answer on purpose (a line poll with ?wait=): its Server-Timing `held`. */
  heldMs?: number;
}

export interface CallOptions {
  token?: string;
  queueToken?: string;
  idempotencyKey?: string;
  body?: unknown;
  /** Problem codes that are designed refusals here (counted as expected, not as errors). */
  expect?: string[];
  /** Seconds the server may hold the answer on purpose (a line poll's ?wait=): added to the timeout. */
  holdSeconds?: number;
}

export type Call = (step: string, method: string, path: string, options?: CallOptions) => Promise<Answer>;

export interface Client {
  call: Call;
  /** Each instance's base URL. */
  targets: string[];
  close(): void;
}

const TIMEOUT_MS = 30_000;
/** Attempts of a request the server shed (see call). */
const SHED_ATTEMPTS = 5;

/** The `held` duration of a Server-Timing header (`held;dur=1234`), in ms; 0 when absent. */
export function heldMsOf(serverTiming: string | undefined): number {
  const m = serverTiming === undefined ? null : /(?:^|,)\s*held;dur=([0-9.]+)/.exec(serverTiming);
  return m ? Number(m[1]) : 0;
}

interface Sent {
  status: number;
  text: string;
  retryAfter: string | undefined;
  serverTiming: string | undefined;
}

function send(agent: http.Agent, base: string, method: string, path: string, o: CallOptions): Promise<Sent> {
  const payload = o.body === undefined ? undefined : JSON.stringify(o.body);
  const headers: Record<string, string> = {};
  if (payload !== undefined) headers['content-type'] = 'application/json';
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (o.queueToken) headers['queue-token'] = o.queueToken;
  if (o.idempotencyKey) headers['idempotency-key'] = o.idempotencyKey;
  return new Promise((resolve, reject) => {
    const timeout = TIMEOUT_MS + (o.holdSeconds ?? 0) * 1000;
    const req = http.request(`${base}${path}`, { method, agent, headers, timeout }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const retryAfter = res.headers['retry-after'];
        const serverTiming = res.headers['server-timing'];
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), retryAfter, serverTiming: Array.isArray(serverTiming) ? serverTiming.join(',') : serverTiming });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(payload);
  });
}

/** The outcome of an answer: 2xx is ok, an expected problem code is a designed refusal, the rest unexpected. */
export function outcomeOf(status: number, code: string | undefined, expect: string[] = []): Outcome {
  if (status >= 200 && status < 300) return 'ok';
  if (status > 0 && status < 500 && code !== undefined && expect.includes(code)) return 'expected';
  return 'unexpected';
}

/** An answer the server shed: 503 marked `shed: true` (refused at the door, nothing done). */
const isShed = (a: { status: number; body: any }) => a.status === 503 && a.body?.shed === true;

export function createClient(targets: string[], recorder: Recorder): Client {
  // No socket cap: a request waiting for a free socket would count the generator's queue as server latency.
  const agent = new http.Agent({ keepAlive: true, keepAliveMsecs: 10_000 });
  let next = 0;
  /**
   * One request: an answer the server marks `shed` (refused at the door while overloaded: nothing
   * was done, so any request, a sign-up too, is safe to repeat) is sent again after its
   * Retry-After, up to SHED_ATTEMPTS times, each attempt recorded.
   */
  const call: Call = async (step, method, path, options = {}) => {
    let answer = await attempt(step, method, path, options);
    for (let n = 1; n < SHED_ATTEMPTS && isShed(answer); n++) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(answer.retryAfterSeconds ?? 1, 5) * 1000));
      answer = await attempt(step, method, path, options);
    }
    return answer;
  };
  const attempt: Call = async (step, method, path, options = {}) => {
    const base = targets[next++ % targets.length]!;
    const started = performance.now();
    let answer: Omit<Answer, 'outcome'>;
    try {
      const { status, text, retryAfter, serverTiming } = await send(agent, base, method, path, options);
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      const code = status >= 400 && body && typeof body === 'object' ? (body as { code?: string }).code : undefined;
      const seconds = Number(retryAfter);
      answer = { status, body, code, retryAfterSeconds: retryAfter !== undefined && Number.isFinite(seconds) ? seconds : undefined, heldMs: heldMsOf(serverTiming) };
    } catch {
      answer = { status: 0, body: undefined, code: undefined, retryAfterSeconds: undefined };
    }
    // A held line poll's latency is what the server took beyond the hold it was asked for.
    const durationMs = Math.max(0, performance.now() - started - (answer.heldMs ?? 0));
    const outcome = outcomeOf(answer.status, answer.code, options.expect);
    // Date.now(): the clock the sale's seconds are counted on (drive.ts).
    recorder.record(step, Date.now(), durationMs, answer.status, answer.code, outcome, isShed(answer));
    return { ...answer, outcome };
  };
  return { call, targets, close: () => agent.destroy() };
}
