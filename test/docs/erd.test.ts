import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { fencedBlocks, readDoc } from './markdown.js';

/** The migrator's own bookkeeping: not part of the service's data model. */
const LEFT_OUT = new Set(['kysely_migration', 'kysely_migration_lock']);

type Key = 'PK' | 'FK' | 'UK';
interface Table {
  columns: Map<string, { type: string; keys: Set<Key> }>;
}
interface Model {
  tables: Map<string, Table>;
  /** Related table pairs, each sorted by name and joined with a space. */
  links: Set<string>;
}

const pair = (a: string, b: string) => [a, b].sort().join(' ');

const ENTITY = /^([A-Za-z_][\w-]*)\s*\{$/;
const ATTRIBUTE = /^([A-Za-z][\w[\]()-]*)\s+([A-Za-z_]\w*)((?:\s+(?:PK|FK|UK)(?:\s*,\s*(?:PK|FK|UK))*)?)(?:\s+"[^"]*")?$/;
const RELATIONSHIP = /^([A-Za-z_]\w*)\s+(?:\|o|\|\||\}o|\}\|)(?:--|\.\.)(?:o\||\|\||o\{|\|\{)\s+([A-Za-z_]\w*)\s*:\s*(?:"[^"]*"|\w+)$/;

/** Reads a Mermaid erDiagram; any line it does not understand is an error, so a typo cannot hide. */
function parseErDiagram(body: string): Model {
  const tables = new Map<string, Table>();
  const links = new Set<string>();
  let current: Table | undefined;
  body.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    const where = `erDiagram line ${i + 1}: ${line}`;
    if (line === '' || line.startsWith('%%') || (i === 0 && line === 'erDiagram')) return;
    if (current) {
      if (line === '}') current = undefined;
      else {
        const m = ATTRIBUTE.exec(line);
        if (!m) throw new Error(`not an attribute: ${where}`);
        const keys = new Set((m[3]!.match(/PK|FK|UK/g) ?? []) as Key[]);
        current.columns.set(m[2]!, { type: m[1]!, keys });
      }
      return;
    }
    const entity = ENTITY.exec(line);
    if (entity) {
      if (tables.has(entity[1]!)) throw new Error(`entity drawn twice: ${where}`);
      current = { columns: new Map() };
      tables.set(entity[1]!, current);
      return;
    }
    const link = RELATIONSHIP.exec(line);
    if (!link) throw new Error(`not an entity or a relationship: ${where}`);
    links.add(pair(link[1]!, link[2]!));
  });
  if (current) throw new Error('erDiagram: an entity is not closed');
  return { tables, links };
}

/** Types as the diagram spells them (PostgreSQL's short names). */
const TYPE_NAMES: Record<string, string> = { int4: 'integer', int8: 'bigint', _text: 'text[]' };

/** The model the migrations create, read from the catalog of the run's migrated database. */
async function readSchema(client: pg.Client): Promise<Model> {
  const tables = new Map<string, Table>();
  const { rows: columns } = await client.query<{ table_name: string; column_name: string; udt_name: string }>(
    `SELECT table_name, column_name, udt_name FROM information_schema.columns
      WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`,
  );
  for (const c of columns) {
    if (LEFT_OUT.has(c.table_name)) continue;
    if (!tables.has(c.table_name)) tables.set(c.table_name, { columns: new Map() });
    tables.get(c.table_name)!.columns.set(c.column_name, { type: TYPE_NAMES[c.udt_name] ?? c.udt_name, keys: new Set() });
  }
  const { rows: constraints } = await client.query<{ kind: 'p' | 'f' | 'u'; table: string; ref: string | null; columns: string[] }>(
    `SELECT c.contype AS kind, t.relname AS table, r.relname AS ref,
            array(SELECT a.attname::text FROM unnest(c.conkey) AS k(n)
                    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n) AS columns
       FROM pg_constraint c
       JOIN pg_class t ON t.oid = c.conrelid
       JOIN pg_namespace s ON s.oid = t.relnamespace
       LEFT JOIN pg_class r ON r.oid = c.confrelid
      WHERE s.nspname = 'public' AND c.contype IN ('p', 'f', 'u')`,
  );
  const links = new Set<string>();
  const KEY = { p: 'PK', f: 'FK', u: 'UK' } as const;
  for (const c of constraints) {
    if (LEFT_OUT.has(c.table)) continue;
    for (const column of c.columns) tables.get(c.table)!.columns.get(column)!.keys.add(KEY[c.kind]);
    if (c.kind === 'f') links.add(pair(c.table, c.ref!));
  }
  return { tables, links };
}

const describeColumns = (t: Table | undefined) =>
  Object.fromEntries([...(t?.columns ?? [])].map(([name, c]) => [name, `${c.type} ${[...c.keys].sort().join(',')}`.trim()]));

describe('the ERD in docs/architecture.md', () => {
  const blocks = fencedBlocks(readDoc('docs/architecture.md'), 'mermaid').filter((b) => b.body.trimStart().startsWith('erDiagram'));
  let client: pg.Client;
  let schema: Model;
  let drawn: Model;

  beforeAll(async () => {
    client = new pg.Client({ connectionString: inject('databaseUrl') });
    await client.connect();
    schema = await readSchema(client);
    drawn = parseErDiagram(blocks[0]!.body);
  });
  afterAll(() => client?.end());

  it('is one erDiagram', () => {
    expect(blocks).toHaveLength(1);
  });

  it('draws every table the migrations create, and no other', () => {
    expect([...drawn.tables.keys()].sort()).toEqual([...schema.tables.keys()].sort());
  });

  it('gives every table its columns, with their types and keys (PK, FK, UK)', () => {
    const columns = (model: Model) => Object.fromEntries([...schema.tables.keys()].map((name) => [name, describeColumns(model.tables.get(name))]));
    expect(columns(drawn)).toEqual(columns(schema));
  });

  it('relates exactly the tables a foreign key relates', () => {
    expect([...drawn.links].sort()).toEqual([...schema.links].sort());
  });
});
