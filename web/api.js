// The public HTTP API as the page calls it: JSON in and out, problems thrown as ApiProblem (never shown raw).

/** A refusal or failure: the problem's stable `code`, its status, and Retry-After when the server sent one. */
export class ApiProblem extends Error {
  constructor({ code, status, retryAfterSeconds, body }) {
    super(code);
    this.code = code;
    this.status = status;
    this.retryAfterSeconds = retryAfterSeconds;
    this.body = body ?? {};
  }
}

/**
 * One request. Resolves with `{ data, status, receivedAt, serverNow }`: `receivedAt` is when the
 * answer arrived on the page's monotonic clock (performance.now(), as hooks.js `useNow`); `serverNow`
 * is a lower bound of the server's clock when it answered (its Date header has whole seconds), so a
 * deadline computed from it is never early.
 */
export async function request(path, { method = 'GET', body, token, queueToken, key } = {}) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  if (queueToken) headers['queue-token'] = queueToken;
  if (key) headers['idempotency-key'] = key;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch {
    throw new ApiProblem({ code: 'NETWORK', status: 0 });
  }
  const receivedAt = performance.now();
  const date = Date.parse(res.headers.get('date') ?? '');
  const serverNow = Number.isNaN(date) ? Date.now() : date;
  let data = null;
  if (res.status !== 204) {
    try {
      data = await res.json();
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const retryAfter = Number(res.headers.get('retry-after'));
    throw new ApiProblem({
      code: typeof data?.code === 'string' ? data.code : `HTTP_${res.status}`,
      status: res.status,
      retryAfterSeconds: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
      body: data,
    });
  }
  return { data, status: res.status, receivedAt, serverNow };
}

/** An Idempotency-Key: 32 random hex digits (getRandomValues works on plain http too, randomUUID does not). */
export function newKey() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

/**
 * Answers that say nothing about the work (it may have happened, or may still): the same request
 * must go again with the same key, so the work happens at most once and its answer is learnt.
 */
export function outcomeUnknown(problem) {
  const unknown = new Set(['NETWORK', 'IDEMPOTENCY_KEY_IN_USE', 'UNAVAILABLE', 'RATE_LIMITED']);
  return problem instanceof ApiProblem && (unknown.has(problem.code) || problem.status >= 500);
}

/** Unknown outcomes worth an automatic retry at once (not a long Retry-After, not a 500). */
function retryable(problem) {
  if (problem.code === 'NETWORK' || problem.code === 'IDEMPOTENCY_KEY_IN_USE' || problem.code === 'UNAVAILABLE') return true;
  return problem.code === 'RATE_LIMITED' && (problem.retryAfterSeconds ?? 1) <= 3;
}

/**
 * Sends a POST under one Idempotency-Key (`options.key`, a new one when not given), again with the
 * same key while the answer is not an outcome (network failure, the first attempt still running, a
 * brief outage): the work happens at most once. A caller that keeps the key for a later attempt
 * (see `outcomeUnknown`) learns the first outcome then, even when this one was lost.
 */
export async function sendOnce(path, options, tries = 4) {
  const key = options.key ?? newKey();
  for (let attempt = 1; ; attempt++) {
    try {
      return await request(path, { ...options, method: 'POST', key });
    } catch (err) {
      if (!(err instanceof ApiProblem) || !retryable(err) || attempt >= tries) throw err;
      await sleep(err.retryAfterSeconds ? err.retryAfterSeconds * 1000 : 300 * attempt);
    }
  }
}
