import type { TSchema } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../src/config.js';
import { firstCode, readDoc, table } from './markdown.js';

const rows = table(readDoc('docs/configuration.md'), ['variable', 'default', 'meaning']);
const documented = new Map(rows.map(([name, dflt]) => [firstCode(name!) ?? name!, dflt!]));
const schema = ConfigSchema.properties as Record<string, TSchema>;

/** What the table's default column must say for a variable: its default's text, or that it starts unset. */
function expectedDefault(variable: TSchema): string | undefined {
  const d: unknown = variable.default;
  if (d === undefined || (Array.isArray(d) && d.length === 0)) return undefined;
  return String(d);
}

describe('docs/configuration.md', () => {
  it('has one row per variable', () => {
    const names = rows.map(([name]) => name);
    expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
    for (const [name] of rows) expect(name, 'a variable cell is one code span').toMatch(/^`[A-Z0-9_]+`$/);
  });

  it('lists every variable src/config.ts reads', () => {
    expect(Object.keys(schema).filter((name) => !documented.has(name))).toEqual([]);
  });

  it('lists no variable src/config.ts does not read', () => {
    expect([...documented.keys()].filter((name) => !(name in schema))).toEqual([]);
  });

  it('gives the defaults src/config.ts applies', () => {
    for (const [name, variable] of Object.entries(schema)) {
      const cell = documented.get(name);
      if (cell === undefined) continue; // reported above
      const expected = expectedDefault(variable);
      if (expected === undefined) {
        expect(cell, `${name} has no default: the table says how it starts unset`).toMatch(/^(unset|generated)\b/);
      } else {
        expect(firstCode(cell), `${name}'s default`).toBe(expected);
      }
    }
  });
});
