import fc from 'fast-check';

// Values for a schema of the OpenAPI document: what it allows, and what it does not.

export interface Schema {
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

export const uuidArb = fc.uuid({ version: 7 });
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

/** Ids of the world, by parameter name, looked up late (they change as the world is refreshed). */
export type IdsByName = Record<string, () => string[]>;

export type SchemaValues = ReturnType<typeof schemaValues>;

/** Values for a schema; parameters named in `idsByName` mostly take the world's ids. */
export function schemaValues(idsByName: IdsByName) {
  const worldId = (name: string) => fc.nat(9).map((i) => {
    const ids = idsByName[name]!();
    return ids[i % ids.length]!;
  });

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

  return { validValue, anyValue };
}
