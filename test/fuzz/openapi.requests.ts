import fc from 'fast-check';
import { uuidArb, type Schema, type SchemaValues } from './openapi.values.js';

// Requests for an operation of the OpenAPI document: the route's own, and anything else.

export interface Operation {
  method: string;
  path: string;
  parameters: { in: 'path' | 'query' | 'header'; name: string; required?: boolean; schema: Schema }[];
  body?: Schema;
}

export type Credential = 'none' | 'payer' | 'other' | 'admin' | 'garbage';
export type QueueCredential = 'none' | 'payer' | 'other' | 'payerElsewhere' | 'garbage' | 'tampered';

export interface FuzzRequest {
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

export function requestArbitraries({ validValue, anyValue }: SchemaValues) {
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

  return { requestFor };
}
