/** A minimal JSON client for tests that talk to a service process over real HTTP. */

export interface HttpAnswer {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each test reads the fields it asserts
  body: any;
  /** How long the answer took, in milliseconds. */
  ms: number;
}

export interface CallOptions {
  /** Bearer token. */
  token?: string;
  queueToken?: string;
  idempotencyKey?: string;
  body?: unknown;
  /** The call fails (rejects) when no answer came within this: a hang is an error, not a wait. */
  timeoutMs?: number;
}

export async function call(base: string, method: string, path: string, opts: CallOptions = {}): Promise<HttpAnswer> {
  const started = performance.now();
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.queueToken ? { 'queue-token': opts.queueToken } : {}),
      ...(opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {}),
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON (e.g. /metrics): kept as text
  }
  return { status: res.status, headers: res.headers, body, ms: performance.now() - started };
}

/** Throws unless the answer has `status`; returns its body. */
export function expectStatus(answer: HttpAnswer, status: number, what: string) {
  if (answer.status !== status) throw new Error(`${what}: expected ${status}, got ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}
