import fc from 'fast-check';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { sql, type RawBuilder } from 'kysely';
import pg from 'pg';
import { afterAll, describe, inject, it } from 'vitest';
import { NOT_AN_OUTCOME } from '../../src/modules/idempotency/idempotency.service.js';
import { createDb, migrateToLatest } from '../../src/platform/db.js';
import { encodeCursor } from '../../src/platform/pagination.js';
import { ADMIN_TOKEN, bearer, charge, createConcert, createTestApp, createUser, queueToken, type TestUser } from '../support/harness.js';

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

const runUrl = inject('databaseUrl');
const fuzzDbName = `fuzz_${Date.now()}_${process.pid}`;
const fuzzUrl = (() => {
  const url = new URL(runUrl);
  url.pathname = `/${fuzzDbName}`;
  return url.toString();
})();
{
  const client = new pg.Client({ connectionString: runUrl });
  await client.connect();
  await client.query(`CREATE DATABASE ${fuzzDbName}`);
  await client.end();
  const migrating = createDb({ connectionString: fuzzUrl, poolSize: 1 });
  await migrateToLatest(migrating);
  await migrating.destroy();
}
const t = await createTestApp({ HOLD_LIMIT_PER_SCHEDULE: '100' }, { databaseUrl: fuzzUrl });
const { app, db } = t;

afterAll(async () => {
  const total = [...answers.values()].reduce((n, row) => n + Object.values(row).reduce((a, b) => a + b, 0), 0);
  console.log(`fuzz: ${total} requests, FUZZ_SEED=${SEED}, ${RUNS_PER_ROUTE} runs per route`);
  for (const [route, row] of answers) console.log(`  ${route}: ${JSON.stringify(row)}`);
  await t.close();
  const client = new pg.Client({ connectionString: runUrl });
  await client.connect();
  await client.query(`DROP DATABASE IF EXISTS ${fuzzDbName} WITH (FORCE)`);
  await client.end();
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

// ---------------------------------------------------------------------------------------------
// Values: what the schema allows, and what it does not
// ---------------------------------------------------------------------------------------------

interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  enum?: unknown[];
  const?: unknown;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  default?: unknown;
}

const CONTROL = ['\u0000', '\u0001', '\u0007', '\b', '\t', '\n', '\r', '\u001b', '\u007f', '\u0085', '\u009f'];
const HUGE = 'x'.repeat(100_000);
const nastyStrings = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '%00',
  '%',
  '%zz',
  "' OR 1=1 --",
  '"; DROP TABLE users; --',
  '\\',
  '../../etc/passwd',
  '<script>alert(1)</script>',
  '${jndi:ldap://x}',
  '__proto__',
  'constructor',
  '\ud800',
  '\udfff',
  '\ufeff',
  '\u202e',
  '🎫'.repeat(60),
  '김'.repeat(300),
  'null',
  'undefined',
  'NaN',
  '-1',
  '1e999',
  HUGE,
];

/** Ids of the world, looked up late (they change as the world is refreshed). */
const idsByName: Record<string, () => string[]> = {
  concertId: () => [world.concertId, world.otherConcertId],
  scheduleId: () => [world.scheduleId],
  reservationId: () => [world.reservationId, world.othersReservationId],
  cursor: () => [encodeCursor(world.reservationId), encodeCursor(world.concertId)],
  window: () => ['15m', '1h', '24h', '7d', '0m', '8d', '1x'],
};

const worldId = (name: string) => fc.nat(9).map((i) => {
  const ids = idsByName[name]!();
  return ids[i % ids.length]!;
});

const uuidArb = fc.uuid({ version: 7 });
const malformedUuids = fc.oneof(
  uuidArb.map((u) => u.toUpperCase()),
  uuidArb.map((u) => u.replaceAll('-', '')),
  uuidArb.map((u) => `{${u}}`),
  uuidArb.map((u) => u.slice(0, -1)),
  uuidArb.map((u) => `${u}0`),
  uuidArb.map((u) => `${u.slice(0, -1)}g`),
  uuidArb.map((u) => ` ${u} `),
  uuidArb.map((u) => `${u}\u0000`),
  fc.constantFrom('00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'x', '0', '-'),
);

const dates = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true });
const validDates = fc.oneof(
  { weight: 4, arbitrary: dates.map((d) => d.toISOString()) },
  { weight: 1, arbitrary: fc.constantFrom('2027-06-30T20:00:00+09:00', '2027-06-30T20:00:00.123456Z', '2027-06-30t20:00:00z') },
);
const malformedDates = fc.constantFrom(
  '2027-06-30T23:59:60Z',
  '2026-12-31T23:59:60Z',
  '2027-02-30T00:00:00Z',
  '2027-13-01T00:00:00Z',
  '2027-06-30T24:00:00Z',
  '0000-01-01T00:00:00Z',
  '9999-12-31T23:59:59.999999999Z',
  '2027-06-30T20:00:00',
  '2027-06-30',
  '+275760-09-13T00:00:00Z',
  '2027-06-30T20:00:00+24:00',
  '2027-06-30 20:00:00Z',
  'now',
  '1782849600000',
);

const controlled = (s: string) => fc.constantFrom(...CONTROL).map((c) => `${s.slice(0, 3)}${c}${s.slice(3)}`);

const withoutControls = (s: string) => !/[\u0000-\u001f\u007f-\u009f]/.test(s);

function validString(schema: Schema, name: string): fc.Arbitrary<string> {
  if (idsByName[name]) return fc.oneof({ weight: 3, arbitrary: worldId(name) }, { weight: 1, arbitrary: uuidArb });
  if (schema.format === 'date-time') return validDates;
  if (schema.format === 'uuid' || /Id$/.test(name)) return uuidArb;
  const minLength = schema.minLength ?? 0;
  const maxLength = Math.min(schema.maxLength ?? 40, 40);
  return fc.string({ minLength, maxLength: Math.max(minLength, maxLength), unit: 'grapheme' }).filter(withoutControls);
}

function junkString(schema: Schema, name: string): fc.Arbitrary<unknown> {
  const max = schema.maxLength ?? 1_000;
  const sample = validString(schema, name);
  return fc.oneof(
    fc.constantFrom(...nastyStrings),
    sample.chain((s) => controlled(s || 'abc')),
    fc.constant('y'.repeat(max + 1)),
    malformedUuids,
    malformedDates,
    fc.string({ maxLength: 30, unit: 'binary' }),
    wrongType('string'),
  );
}

function validInteger(schema: Schema): fc.Arbitrary<number> {
  const min = schema.minimum ?? -(2 ** 31);
  const max = schema.maximum ?? 2 ** 31 - 1;
  const small = Math.max(min, 0);
  return fc.oneof(
    fc.integer({ min: small, max: Math.min(max, small + 50) }),
    fc.integer({ min, max }),
    fc.constantFrom(min, max, Math.min(max, Math.max(min, 1))),
  );
}

function junkNumber(schema: Schema): fc.Arbitrary<unknown> {
  const min = schema.minimum ?? 0;
  const max = schema.maximum ?? 2 ** 31 - 1;
  return fc.oneof(
    fc.constantFrom(min - 1, max + 1, -1, 0, -0, 1.5, 2 ** 31, 2 ** 53, 2 ** 63, -(2 ** 63), 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2),
    fc.constantFrom('5', '1e3', '0x10', ' 7 ', '', 'Infinity', 'NaN', '9'.repeat(400)),
    fc.double({ noNaN: true }),
    wrongType('integer'),
  );
}

function wrongType(type: string): fc.Arbitrary<unknown> {
  const all: Record<string, unknown> = { string: 'text', integer: 7, boolean: true, null: null, array: [1, 'a'], object: { a: 1 } };
  return fc.constantFrom(...Object.entries(all).filter(([k]) => k !== type && !(type === 'number' && k === 'integer')).map(([, v]) => v));
}

const typeOf = (schema: Schema): string | undefined => (Array.isArray(schema.type) ? schema.type[0] : schema.type);

/** Values the schema allows; unless `strict`, nested ones may still be junk. */
function validValue(schema: Schema, name: string, depth: number, strict = false): fc.Arbitrary<unknown> {
  const variants = schema.anyOf ?? schema.oneOf;
  if (variants) return fc.oneof(...variants.map((s) => validValue(s, name, depth, strict)));
  if (schema.allOf) return validValue(Object.assign({}, ...schema.allOf), name, depth, strict);
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum) return fc.constantFrom(...schema.enum);
  switch (typeOf(schema)) {
    case 'string':
      return validString(schema, name);
    case 'integer':
      return validInteger(schema);
    case 'number':
      return fc.oneof(validInteger(schema), fc.double({ min: schema.minimum ?? -1e6, max: schema.maximum ?? 1e6, noNaN: true }));
    case 'boolean':
      return fc.boolean();
    case 'array': {
      const minLength = schema.minItems ?? 0;
      const items = strict ? validValue(schema.items ?? {}, name, depth + 1, true) : anyValue(schema.items ?? {}, name, depth + 1);
      return fc.array(items, { minLength, maxLength: Math.max(minLength, Math.min(schema.maxItems ?? 3, 3)) });
    }
    case 'object':
      return strict ? validObject(schema, depth) : objectOf(schema, depth);
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function junkValue(schema: Schema, name: string, depth: number): fc.Arbitrary<unknown> {
  switch (typeOf(schema)) {
    case 'string':
      return junkString(schema, name);
    case 'integer':
    case 'number':
      return junkNumber(schema);
    case 'boolean':
      return fc.oneof(fc.constantFrom('yes', 'TRUE', 2, 0, ''), wrongType('boolean'));
    case 'array':
      return fc.oneof(
        fc.constant([]),
        fc.array(validValue(schema.items ?? {}, name, depth + 1), { minLength: (schema.maxItems ?? 100) + 1, maxLength: (schema.maxItems ?? 100) + 1 }),
        fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
        wrongType('array'),
      );
    case 'object':
      return fc.oneof(fc.constant({}), fc.jsonValue({ maxDepth: 2 }), wrongType('object'));
    default:
      return fc.constantFrom(null, '', HUGE, '\u0000');
  }
}

/** Mostly what the schema allows (so requests get past validation), sometimes not. */
function anyValue(schema: Schema, name: string, depth: number): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 4, arbitrary: validValue(schema, name, depth) }, { weight: 1, arbitrary: junkValue(schema, name, depth) });
}

/** An object with its required properties, every value allowed by the schema. */
function validObject(schema: Schema, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const model = Object.fromEntries(Object.entries(schema.properties ?? {}).map(([k, s]) => [k, validValue(s, k, depth, true)]));
  return fc.record(model, { requiredKeys: (schema.required ?? []).filter((k) => k in model) });
}

function objectOf(schema: Schema, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const properties = schema.properties ?? {};
  const required = schema.required ?? [];
  const model = Object.fromEntries(Object.entries(properties).map(([k, s]) => [k, anyValue(s, k, depth)]));
  const complete = fc.record(model, { requiredKeys: required.filter((k) => k in model) });
  return fc.oneof(
    { weight: 6, arbitrary: complete },
    { weight: 1, arbitrary: fc.record(model, { requiredKeys: [] }) },
    {
      weight: 1,
      arbitrary: fc.tuple(complete, fc.dictionary(fc.constantFrom('extra', '__proto__', 'constructor', 'id', 'status', 'userId'), fc.jsonValue({ maxDepth: 1 }))).map(
        ([o, extra]) => ({ ...o, ...extra }),
      ),
    },
  );
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

interface Operation {
  method: string;
  path: string;
  parameters: { in: 'path' | 'query' | 'header'; name: string; required?: boolean; schema: Schema }[];
  body?: Schema;
}

type Credential = 'none' | 'payer' | 'other' | 'admin' | 'garbage';
type QueueCredential = 'none' | 'payer' | 'other' | 'payerElsewhere' | 'garbage' | 'tampered';

interface FuzzRequest {
  method: string;
  path: Record<string, string>;
  query: [string, string][];
  auth: Credential;
  authGarbage: string;
  queue: QueueCredential;
  queueGarbage: string;
  idempotencyKey: string | undefined;
  contentType: string | undefined;
  body: { json: unknown } | { raw: string } | undefined;
  extraHeaders: Record<string, string>;
}

/** Percent-encoding as a client would send it (a lone surrogate goes as U+FFFD, as a browser sends it). */
const encode = (value: unknown) =>
  encodeURIComponent((typeof value === 'string' ? value : (JSON.stringify(value) ?? '')).replace(/[\ud800-\udfff]/gu, '\ufffd'));

const rawPathSegments = fc.constantFrom('%', '%zz', '%00', '%E0%A4%A', '..', '.', '%2e%2e', 'a%2Fb', '%20', 'x'.repeat(101), ';', '%3F');
const rawQueryValues = fc.constantFrom('%', '%zz', '%00', '%E0%A4%A', '', '+', '%2B', 'a&b', '[]', 'a=b=c');

function pathValue(p: Operation['parameters'][number]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 6, arbitrary: anyValue(p.schema, p.name, 0).map(encode) },
    { weight: 1, arbitrary: rawPathSegments },
  );
}

function queryValues(params: Operation['parameters']): fc.Arbitrary<[string, string][]> {
  const each = params.map((p) =>
    fc.oneof(
      { weight: 2, arbitrary: fc.constant([] as [string, string][]) },
      { weight: 5, arbitrary: anyValue(p.schema, p.name, 0).map((v) => [[p.name, encode(v)]] as [string, string][]) },
      { weight: 1, arbitrary: rawQueryValues.map((v) => [[p.name, v]] as [string, string][]) },
      { weight: 1, arbitrary: fc.tuple(validValue(p.schema, p.name, 0), validValue(p.schema, p.name, 0)).map(([a, b]) => [[p.name, encode(a)], [p.name, encode(b)]] as [string, string][]) },
    ),
  );
  const extra = fc.oneof({ weight: 5, arbitrary: fc.constant([] as [string, string][]) }, { weight: 1, arbitrary: fc.constant([['unknown', '1']] as [string, string][]) });
  return fc.tuple(extra, ...each).map((parts) => parts.flat());
}

const idempotencyKeys = fc.oneof(
  { weight: 3, arbitrary: fc.constant(undefined) },
  { weight: 3, arbitrary: uuidArb.map((u) => `fuzz-${u}`) },
  { weight: 2, arbitrary: fc.constantFrom('fuzz-shared-key-1', 'fuzz-shared-key-2') },
  { weight: 2, arbitrary: fc.constantFrom('short77', 'k'.repeat(256), 'abc\u0000defgh', 'abc\ndefgh', '        ', 'ключ-ключ-ключ', 'k'.repeat(255), '\u007fdelete-me') },
);

const contentTypes = fc.oneof(
  { weight: 8, arbitrary: fc.constant('application/json') },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      undefined,
      'application/json; charset=utf-8',
      'application/json; charset=utf-16',
      'APPLICATION/JSON',
      'application/problem+json',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/octet-stream',
      '',
      'application/json; charset=latin1; boundary=',
    ),
  },
);

const nested = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
const rawBodies = fc.constantFrom(
  '',
  ' ',
  'null',
  'true',
  '"text"',
  '[]',
  '123',
  '{',
  '[',
  '{"a":1,}',
  'not json',
  '\u0000',
  '{"__proto__":{"polluted":1}}',
  '{"constructor":{"prototype":{"polluted":1}}}',
  nested(10_000),
  `{"name":"${'n'.repeat(2_000_000)}"}`,
  '{"amount":1e400}',
  '\ufeff{}',
);

/**
 * Requests of two kinds: anything (junk anywhere), and well-formed ones (real credentials, values
 * the schema allows, mostly the world's ids), so that the paths past validation are fuzzed too.
 */
function requestFor(op: Operation): fc.Arbitrary<FuzzRequest> {
  return fc.oneof({ weight: 2, arbitrary: anyRequest(op) }, { weight: 1, arbitrary: wellFormedRequest(op) });
}

function wellFormedRequest(op: Operation): fc.Arbitrary<FuzzRequest> {
  const strict = (p: Operation['parameters'][number]) => validValue(p.schema, p.name, 0, true);
  const queryParams = op.parameters.filter((p) => p.in === 'query');
  return fc.record({
    method: fc.constant(op.method),
    path: fc.record(Object.fromEntries(op.parameters.filter((p) => p.in === 'path').map((p) => [p.name, strict(p).map(encode)]))),
    query: fc.tuple(...queryParams.map((p) => fc.option(strict(p).map((v) => [p.name, encode(v)] as [string, string]), { nil: undefined }))).map(
      (pairs) => pairs.filter((pair): pair is [string, string] => pair !== undefined),
    ),
    auth: fc.constant<Credential>(op.path.startsWith('/admin') ? 'admin' : 'payer'),
    authGarbage: fc.constant(''),
    queue: fc.constantFrom<QueueCredential>('payer', 'payer', 'payer', 'payerElsewhere'),
    queueGarbage: fc.constant(''),
    idempotencyKey: fc.option(fc.oneof(uuidArb.map((u) => `fuzz-${u}`), fc.constantFrom('fuzz-shared-key-1')), { nil: undefined }),
    contentType: fc.constant('application/json'),
    body: op.body ? validValue(op.body, 'body', 0, true).map((json) => ({ json })) : fc.constant(undefined),
    extraHeaders: fc.constant<Record<string, string>>({}),
  });
}

function anyRequest(op: Operation): fc.Arbitrary<FuzzRequest> {
  const pathParams = op.parameters.filter((p) => p.in === 'path');
  const queryParams = op.parameters.filter((p) => p.in === 'query');
  const method = fc.oneof(
    { weight: 12, arbitrary: fc.constant(op.method) },
    { weight: 1, arbitrary: fc.constantFrom(...(op.method === 'GET' ? ['HEAD'] : []), 'PATCH', 'OPTIONS', 'PUT') },
  );
  const body: fc.Arbitrary<FuzzRequest['body']> = op.body
    ? fc.oneof(
        { weight: 3, arbitrary: validValue(op.body, 'body', 0, true).map((json) => ({ json })) },
        { weight: 4, arbitrary: anyValue(op.body, 'body', 0).map((json) => ({ json })) },
        { weight: 1, arbitrary: rawBodies.map((raw) => ({ raw })) },
        { weight: 1, arbitrary: fc.constant(undefined) },
      )
    : fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: rawBodies.map((raw) => ({ raw })) });
  return fc.record({
    method,
    path: fc.record(Object.fromEntries(pathParams.map((p) => [p.name, pathValue(p)]))),
    query: queryValues(queryParams),
    auth: op.path.startsWith('/admin')
      ? fc.constantFrom<Credential>('none', 'payer', 'admin', 'admin', 'admin', 'garbage')
      : fc.constantFrom<Credential>('none', 'payer', 'payer', 'payer', 'other', 'admin', 'garbage'),
    authGarbage: fc.constantFrom(
      'Bearer',
      'Bearer ',
      'Basic YWRtaW46YWRtaW4=',
      'bearer tk_unknown',
      `Bearer ${'t'.repeat(5_000)}`,
      'Bearer tk_\u0000',
      'Bearer a b',
      'Token x',
      '',
    ),
    queue: fc.constantFrom<QueueCredential>('none', 'payer', 'payer', 'payer', 'other', 'payerElsewhere', 'garbage', 'tampered'),
    queueGarbage: fc.constantFrom('qt1', 'qt1.x.y.z', 'qt1...', 'qt2.a.b.c', `qt1.${'a'.repeat(3_000)}.b.c`, '\u0000', 'null', ''),
    idempotencyKey: idempotencyKeys,
    contentType: contentTypes,
    body,
    extraHeaders: fc.oneof(
      { weight: 6, arbitrary: fc.constant<Record<string, string>>({}) },
      {
        weight: 1,
        arbitrary: fc.constantFrom<Record<string, string>>(
          { accept: 'text/html' },
          { accept: 'application/xml' },
          { 'x-request-id': 'r'.repeat(5_000) },
          { 'x-request-id': 'id\u0000x' },
          { 'x-request-id': '' },
          { 'accept-encoding': 'gzip;q=0, *;q=0' },
          { 'content-encoding': 'gzip' },
        ),
      },
    ),
  });
}

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


const TABLES = ['users', 'wallets', 'ledger_entries', 'reservations', 'payments', 'outbox', 'concerts', 'schedules'] as const;

/** Row counts and order-free checksums (`count:sum of row hashes`) of what a request can change. */
interface Snapshot {
  tables: Record<string, string>;
  /** All of idempotency_keys, and the rows of one key, as `count:sum`, so that key can be left out. */
  keys: [bigint, bigint];
  keyRows: { state: string; hash: bigint }[];
}

const checksum = (table: RawBuilder<unknown>, where: RawBuilder<unknown> = sql`true`) =>
  sql`SELECT count(*)::text || ':' || coalesce(sum(hashtext(x::text)::bigint), 0)::text FROM ${table} x WHERE ${where}`;

const keyRowsOf = (key: string | undefined) =>
  sql<{ t: string; v: string }>`SELECT 'key' AS t, x.state || ' ' || coalesce(x.response_status::text, '-') || ' ' || hashtext(x::text)::text AS v
    FROM idempotency_keys x WHERE x.key = ${key ?? null}`;

const parseKeyRows = (rows: { t: string; v: string }[]) =>
  rows.filter((r) => r.t === 'key').map((r) => {
    const [state, status, hash] = r.v.split(' ');
    return { state: `${state} ${status}`, hash: BigInt(hash!) };
  });

/**
 * Every table a request can change. Seats are compared on the schedule the requests book (new
 * seats only come with new schedules, which are compared). Idempotency keys are compared without
 * the request's own key, which is checked on its own.
 */
async function snapshot(key: string | undefined): Promise<Snapshot> {
  const parts = TABLES.map((table) => sql`SELECT ${table}::text AS t, (${checksum(sql.table(table))}) AS v`);
  parts.push(sql`SELECT 'seats', (${checksum(sql`seats`, sql`x.schedule_id = ${world.scheduleId}`)})`);
  parts.push(sql`SELECT 'idempotency_keys', (${checksum(sql`idempotency_keys`)})`);
  parts.push(sql`${keyRowsOf(key)}`);
  const { rows } = await sql<{ t: string; v: string }>`${sql.join(parts, sql` UNION ALL `)}`.execute(db);
  const tables = Object.fromEntries(rows.filter((r) => r.t !== 'key').map((r) => [r.t, r.v]));
  const [count, sum] = tables.idempotency_keys!.split(':').map(BigInt) as [bigint, bigint];
  delete tables.idempotency_keys;
  return { tables, keys: [count, sum], keyRows: parseKeyRows(rows) };
}

/** The state after the previous request, reused as the next one's "before" while nothing else wrote. */
let previous: Snapshot | undefined;

async function before(key: string | undefined): Promise<Snapshot> {
  if (!previous) return snapshot(key);
  return { ...previous, keyRows: parseKeyRows((await keyRowsOf(key).execute(db)).rows) };
}

function differences(a: Snapshot, b: Snapshot): string[] {
  const changed = Object.keys(a.tables).filter((table) => a.tables[table] !== b.tables[table]);
  const others = (s: Snapshot) => {
    const mine = s.keyRows.reduce((sum, r) => sum + r.hash, 0n);
    return `${s.keys[0] - BigInt(s.keyRows.length)}:${s.keys[1] - mine}`;
  };
  if (others(a) !== others(b)) changed.push('idempotency_keys');
  return changed;
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
  previous = await snapshot(key);
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
