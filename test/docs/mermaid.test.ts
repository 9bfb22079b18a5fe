import { describe, expect, it } from 'vitest';
import { DOCS, fencedBlocks, readDoc } from './markdown.js';

/** Diagram types Mermaid knows (the keyword its first line starts with). */
const DIAGRAM_TYPES = [
  'flowchart', 'graph', 'sequenceDiagram', 'classDiagram', 'stateDiagram-v2', 'stateDiagram', 'erDiagram',
  'journey', 'gantt', 'pie', 'quadrantChart', 'requirementDiagram', 'gitGraph', 'mindmap', 'timeline',
  'sankey-beta', 'xychart-beta', 'block-beta', 'packet-beta', 'architecture-beta', 'C4Context',
];

/** Keywords that open a block closed by `end`, per diagram type. */
const OPENERS: Record<string, RegExp> = {
  flowchart: /^subgraph\b/,
  sequenceDiagram: /^(loop|alt|opt|par|critical|break|rect|box)\b/,
};

/** Statements a sequenceDiagram line may be (the ones these docs use, and the common rest). */
const SEQUENCE_LINE =
  /^(autonumber|(participant|actor)\s+\S+(\s+as\s+.+)?|[\w-]+\s*(->>|-->>|->|-->|-x|--x|-\)|--\))[+-]?\s*[\w-]+\s*:.*|Note\s+(over|left of|right of)\s+[\w-]+(\s*,\s*[\w-]+)?\s*:.*|(loop|alt|else|opt|par|and|critical|option|break|rect|box)\b.*|end|activate\s+\S+|deactivate\s+\S+)$/;

/** Statements a stateDiagram-v2 line may be. */
const STATE_LINE = /^(\[\*\]|[\w-]+)\s*-->\s*(\[\*\]|[\w-]+)(\s*:.*)?$|^(state|note|direction|classDef|class)\b.*$|^end note$|^[\w-]+\s*:.*$/;

const blocks = DOCS.flatMap((file) => fencedBlocks(readDoc(file), 'mermaid').map((b) => ({ ...b, file })));

describe('Mermaid blocks in README.md and docs/', () => {
  it('exist (the architecture is drawn)', () => {
    expect(blocks.length).toBeGreaterThan(0);
  });

  it.each(blocks.map((b) => [`${b.file}:${b.line}`, b] as const))('%s is a well-formed diagram', (_where, block) => {
    const lines = block.body.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('%%'));
    const type = DIAGRAM_TYPES.find((t) => lines[0] === t || lines[0]!.startsWith(`${t} `));
    expect(type, `first line "${lines[0]}" names a diagram type`).toBeDefined();
    const kind = type === 'graph' ? 'flowchart' : type!;
    const opener = OPENERS[kind];
    if (opener) {
      let depth = 0;
      for (const line of lines.slice(1)) {
        if (opener.test(line)) depth++;
        if (line === 'end') depth--;
        expect(depth, `an "end" without its block: ${line}`).toBeGreaterThanOrEqual(0);
      }
      expect(depth, 'every block is closed by "end"').toBe(0);
    }
    const statement = kind === 'sequenceDiagram' ? SEQUENCE_LINE : kind === 'stateDiagram-v2' ? STATE_LINE : undefined;
    if (statement) for (const line of lines.slice(1)) expect(line, `a ${kind} statement`).toMatch(statement);
  });
});
