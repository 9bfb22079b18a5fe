import fc from 'fast-check';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { afterAll, describe, it } from 'vitest';
import { NOT_AN_OUTCOME } from '../../src/modules/idempotency/idempotency.service.js';
import { encodeCursor } from '../../src/platform/pagination.js';
import { ADMIN_TOKEN, bearer, charge, createConcert, createUser, queueToken, type TestUser } from '../support/harness.js';
import { createTestAppOnOwnDatabase } from '../support/own-database.js';
import { differences, keyRowsOf, parseKeyRows, snapshot, type Snapshot } from '../support/row-snapshot.js';
import { requestArbitraries, type FuzzRequest, type Operation } from './openapi.requests.js';
import { schemaValues, type IdsByName, type Schema } from './openapi.values.js';

/**
 * Schema-driven fuzzing of the whole HTTP surface, from the service's own OpenAPI document: for
 * every route and method, requests with wrong types, boundary and huge numbers, control
 * characters, overlong strings, malformed UUIDs and dates, odd headers and bodies, with and
 * without real credentials. For every answer: never a 5xx; every 4xx is problem+json whose
 * `status` is the answer's; and a refusal changes no row.
 *
 * It runs on a database of its own, so the row snapshots see only its own requests.
 * Reproduce a failure with FUZZ_SEED=<seed> (printed with it); FUZZ_RUNS sets runs per route.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_202);
const RUNS_PER_ROUTE = Number(process.env.FUZZ_RUNS ?? 130);

// ---------------------------------------------------------------------------------------------
// A database and an application of its own
// ---------------------------------------------------------------------------------------------

const t = await createTestAppOnOwnDatabase('fuzz', { HOLD_LIMIT_PER_SCHEDULE: '100' });
const { app, db } = t;

afterAll(async () => {
  const total = [...answers.values()].reduce((n, row) => n + Object.values(row).reduce((a, b) => a + b, 0), 0);
  console.log(`fuzz: ${total} requests, FUZZ_SEED=${SEED}, ${RUNS_PER_ROUTE} runs per route`);
  for (const [route, row] of answers) console.log(`  ${route}: ${JSON.stringify(row)}`);
  await t.close();
});

// ---------------------------------------------------------------------------------------------
// The world the requests act on: real users, concerts, tokens and a live hold
// ---------------------------------------------------------------------------------------------

interface World {
  payer: TestUser;
  other: TestUser;
  concertId: string;
  scheduleId: string;
  otherConcertId: string;
  reservationId: string;
  othersReservationId: string;
  seat: number;
  tokens: { payer: string; other: string; payerElsewhere: string };
}

async function newConcert() {
  const c = await createConcert(t, [{ seatCount: 2_000, price: 1_000 }]);
  return { concertId: c.id, scheduleId: c.schedules[0]!.id };
}

async function holdFor(user: TestUser, w: Pick<World, 'concertId' | 'scheduleId'>, seat: number): Promise<string | undefined> {
  const res = await app.inject({
    method: 'POST',
    url: '/reservations',
    headers: { ...bearer(user.token), 'queue-token': await queueToken(app, user, w.concertId) },
    payload: { scheduleId: w.scheduleId, seatNumber: seat },
  });
  return res.statusCode === 201 ? (res.json().id as string) : undefined;
}

const payer = await createUser(app, 'fuzz payer');
const other = await createUser(app, 'fuzz other');
await charge(app, payer, 10_000_000);
await charge(app, other, 5_000);
const world: World = await (async () => {
  const main = await newConcert();
  const otherConcertId = (await newConcert()).concertId;
  return {
    payer,
    other,
    ...main,
    otherConcertId,
    seat: 2,
    reservationId: (await holdFor(payer, main, 1))!,
    othersReservationId: (await holdFor(other, main, 2_000))!,
    tokens: { payer: '', other: '', payerElsewhere: '' },
  };
})();

/** Set by a request that may have paid or cancelled the hold, or left the line. */
let worldChanged = true;

/** Before a request: tokens ACTIVE again (a request may have left the line) and a live hold to pay or cancel. */
async function refreshWorld() {
  if (!worldChanged) return;
  worldChanged = false;
  const r = await db.selectFrom('reservations').select('status').where('id', '=', world.reservationId).executeTakeFirst();
  if (r?.status !== 'HELD') {
    let id = await holdFor(payer, world, ++world.seat);
    if (!id) {
      // the seats or the hold limit ran out: a new concert
      Object.assign(world, await newConcert(), { seat: 1 });
      id = await holdFor(payer, world, world.seat);
    }
    world.reservationId = id!;
  }
  world.tokens = {
    payer: await queueToken(app, payer, world.concertId),
    other: await queueToken(app, other, world.concertId),
    payerElsewhere: await queueToken(app, payer, world.otherConcertId),
  };
}

/** Ids of the world, looked up late (they change as the world is refreshed). */
const idsByName: IdsByName = {
  concertId: () => [world.concertId, world.otherConcertId],
  scheduleId: () => [world.scheduleId],
  reservationId: () => [world.reservationId, world.othersReservationId],
  cursor: () => [encodeCursor(world.reservationId), encodeCursor(world.concertId)],
  window: () => ['15m', '1h', '24h', '7d', '0m', '8d', '1x'],
};

const { requestFor } = requestArbitraries(schemaValues(idsByName));

// ---------------------------------------------------------------------------------------------
// Requests, with the world's credentials
// ---------------------------------------------------------------------------------------------

function toInject(op: Operation, r: FuzzRequest): InjectOptions {
  let url = op.path.replace(/\{(\w+)\}/g, (_, name: string) => r.path[name] ?? 'x');
  if (r.query.length > 0) url += `?${r.query.map(([k, v]) => `${k}=${v}`).join('&')}`;
  const headers: Record<string, string> = { ...r.extraHeaders };
  const tokens = { payer: payer.token, other: other.token, admin: ADMIN_TOKEN };
  if (r.auth === 'garbage') headers.authorization = r.authGarbage;
  else if (r.auth !== 'none') headers.authorization = `Bearer ${tokens[r.auth]}`;
  if (r.queue === 'garbage') headers['queue-token'] = r.queueGarbage;
  else if (r.queue === 'tampered') headers['queue-token'] = `${world.tokens.payer.slice(0, -3)}AAA`;
  else if (r.queue !== 'none') headers['queue-token'] = world.tokens[r.queue];
  if (r.idempotencyKey !== undefined) headers['idempotency-key'] = r.idempotencyKey;
  let payload: string | undefined;
  if (r.body) {
    payload = 'json' in r.body ? (JSON.stringify(r.body.json) ?? '') : r.body.raw;
    if (r.contentType !== undefined) headers['content-type'] = r.contentType;
  }
  return { method: r.method as InjectOptions['method'], url, headers, ...(payload !== undefined ? { payload } : {}) };
}

// ---------------------------------------------------------------------------------------------
// What must hold
// ---------------------------------------------------------------------------------------------

/** The state after the previous request, reused as the next one's "before" while nothing else wrote. */
let previous: Snapshot | undefined;

async function before(key: string | undefined): Promise<Snapshot> {
  if (!previous) return snapshot(db, world.scheduleId, key);
  return { ...previous, keyRows: parseKeyRows((await keyRowsOf(key).execute(db)).rows) };
}

const shorten = (s: string) => (s.length > 300 ? `${s.slice(0, 300)}… (${s.length} chars)` : s);
const describeRequest = (req: InjectOptions) =>
  JSON.stringify({ ...req, payload: typeof req.payload === 'string' ? shorten(req.payload) : req.payload }, (_, v: unknown) =>
    typeof v === 'string' ? shorten(v) : v,
  );

/** Never a 5xx; a 4xx is problem+json with a code and its own status. Returns the refusal, if it is one. */
function assertProblem(req: InjectOptions, res: LightMyRequestResponse) {
  const fail = (why: string): never => {
    throw new Error(`${why}\n  request:  ${describeRequest(req)}\n  response: ${res.statusCode} ${shorten(res.body)}`);
  };
  if (res.statusCode >= 500) fail(`answered ${res.statusCode}`);
  if (res.statusCode < 400) return undefined;
  if (!String(res.headers['content-type']).startsWith('application/problem+json')) fail('a 4xx that is not application/problem+json');
  let body: { code?: unknown; status?: unknown } = {};
  if (req.method !== 'HEAD') {
    try {
      body = res.json();
    } catch {
      fail('a 4xx whose body is not JSON');
    }
    if (typeof body.code !== 'string' || body.status !== res.statusCode) fail('a problem without a code or with another status');
  }
  return { code: typeof body.code === 'string' ? body.code : `HEAD ${res.statusCode}`, fail };
}

/** Answers by route and status class, printed at the end: how deep the requests reached. */
const answers = new Map<string, Record<string, number>>();
function tally(op: Operation, status: number) {
  const row = answers.get(`${op.method} ${op.path}`) ?? {};
  const kind = status < 400 ? String(status) : String(status);
  row[kind] = (row[kind] ?? 0) + 1;
  answers.set(`${op.method} ${op.path}`, row);
}

async function check(op: Operation, r: FuzzRequest) {
  if (worldChanged) previous = undefined;
  await refreshWorld();
  const req = toInject(op, r);
  // A key PostgreSQL cannot hold (NUL) can never be stored: nothing of it to look for.
  const key = r.idempotencyKey?.includes('\u0000') ? undefined : r.idempotencyKey;
  const was = await before(key);
  const res = await app.inject(req);
  tally(op, res.statusCode);
  worldChanged ||= r.method === 'DELETE' || op.path === '/payments';
  previous = await snapshot(db, world.scheduleId, key);
  const refused = assertProblem(req, res);
  if (!refused) return;
  const changed = differences(was, previous);
  if (changed.length > 0) refused.fail(`the refusal ${refused.code} changed ${changed.join(', ')}`);
  const states = (s: Snapshot) => s.keyRows.map((k) => k.state);
  const added = states(previous).filter((k) => !states(was).includes(k));
  if ((NOT_AN_OUTCOME as ReadonlySet<string>).has(refused.code) ? added.length > 0 : added.some((k) => k !== `DONE ${res.statusCode}`)) {
    refused.fail(`the refusal ${refused.code} left its Idempotency-Key as ${added.join(', ')}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Every route of the OpenAPI document
// ---------------------------------------------------------------------------------------------

const doc = (await app.inject({ url: '/docs/json' })).json() as {
  paths: Record<string, Record<string, { parameters?: Operation['parameters']; requestBody?: { content: Record<string, { schema: Schema }> } }>>;
};
const operations: Operation[] = Object.entries(doc.paths).flatMap(([path, methods]) =>
  Object.entries(methods).map(([method, o]) => ({
    method: method.toUpperCase(),
    path,
    parameters: o.parameters ?? [],
    body: o.requestBody?.content['application/json']?.schema,
  })),
);

describe(`the HTTP surface under fuzzing (FUZZ_SEED=${SEED}, ${RUNS_PER_ROUTE} runs per route)`, () => {
  it('covers every route of the OpenAPI document', () => {
    if (operations.length < 20) throw new Error(`only ${operations.length} operations in /docs/json`);
  });

  it.each(operations.map((op, i) => [`${op.method} ${op.path}`, op, i] as const))('%s', async (_, op, i) => {
    const seed = SEED + i;
    let failure: string | undefined;
    try {
      await fc.assert(
        fc.asyncProperty(requestFor(op), async (r) => {
          try {
            await check(op, r);
          } catch (err) {
            failure ??= (err as Error).message;
            throw err;
          }
        }),
        { seed, numRuns: RUNS_PER_ROUTE, endOnFailure: true },
      );
    } catch (err) {
      const why = failure ?? (err as Error).message;
      throw new Error(`fuzzing ${op.method} ${op.path} failed; reproduce with FUZZ_SEED=${SEED} (this route's seed ${seed}):\n${why}`);
    }
  }, 60_000);
});
