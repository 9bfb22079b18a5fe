import type { ValidateFunction } from 'ajv';

/** A whole number as people write it: decimal digits, no sign but minus, no leading zero, no point. */
const PLAIN_INTEGER = /^(0|-?[1-9][0-9]*)$/;

/**
 * Query strings, params and headers are coerced to the schema's types, and Ajv reads any text that
 * JavaScript's Number() reads: `1e1`, `0x10`, ` 5`, `30.0`, `0001` would all pass as integers. This
 * refuses, before coercion, a text for an integer property that is not plain decimal digits, with
 * the issue Ajv would give (so it answers 400 VALIDATION_FAILED naming the field).
 */
export function withPlainIntegers(schema: object, validate: ValidateFunction): ValidateFunction {
  const properties = (schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {};
  const integers = Object.keys(properties).filter((name) => properties[name]?.type === 'integer');
  if (integers.length === 0) return validate;
  const checked = ((data: unknown) => {
    const record = (data ?? {}) as Record<string, unknown>;
    const bad = integers.filter((name) => typeof record[name] === 'string' && !PLAIN_INTEGER.test(record[name]));
    if (bad.length > 0) {
      checked.errors = bad.map((name) => ({
        instancePath: `/${name}`,
        schemaPath: `#/properties/${name}/type`,
        keyword: 'type',
        params: { type: 'integer' },
        message: 'must be a whole number in plain decimal digits',
      }));
      return false;
    }
    const ok = validate(data);
    checked.errors = validate.errors;
    return ok;
  }) as ValidateFunction;
  return checked;
}
