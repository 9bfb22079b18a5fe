import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The repository's root: every path in the docs tests is relative to it. */
export const ROOT = join(import.meta.dirname, '..', '..');

export const readDoc = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** The documentation the docs tests read: README.md and every docs/*.md (the lab's reports are generated). */
export const DOCS = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];

/** The cells of a Markdown table row (`| a | b |`), trimmed; pipes inside code spans are not separators. */
export function cells(row: string): string[] {
  const out: string[] = [];
  let cell = '';
  let inCode = false;
  for (const ch of row.trim().replace(/^\|/, '').replace(/\|$/, '')) {
    if (ch === '`') inCode = !inCode;
    if (ch === '|' && !inCode) {
      out.push(cell.trim());
      cell = '';
    } else cell += ch;
  }
  out.push(cell.trim());
  return out;
}

/** The rows of the first table whose header row is exactly `header`, as cells. */
export function table(markdown: string, header: string[]): string[][] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim().startsWith('|') && cells(l).join('|') === header.join('|'));
  if (start < 0) throw new Error(`no table with the header | ${header.join(' | ')} |`);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.trim().startsWith('|')) break;
    rows.push(cells(line));
  }
  return rows;
}

/** Every fenced block of the given language, with the line its fence opens on (1-based). */
export function fencedBlocks(markdown: string, language: string): { line: number; body: string }[] {
  const blocks: { line: number; body: string }[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```' + language) continue;
    const end = lines.findIndex((l, j) => j > i && l.trim() === '```');
    if (end < 0) throw new Error(`line ${i + 1}: unclosed \`\`\`${language} block`);
    blocks.push({ line: i + 1, body: lines.slice(i + 1, end).join('\n') });
    i = end;
  }
  return blocks;
}

/** The text of the first code span in a cell (`` `x` `` → x), if any. */
export const firstCode = (cell: string) => /`([^`]*)`/.exec(cell)?.[1];

/** GitHub's anchors for a file's headings: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, text] of markdown.replace(/^```[\s\S]*?^```/gm, '').matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const slug = text!
      .replace(/`/g, '')
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return out;
}
