import { existsSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { anchors, DOCS, ROOT, readDoc } from './markdown.js';

/** Markdown without fenced blocks and code spans, where a link is not a link. */
const prose = (markdown: string) => markdown.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');

const links = DOCS.flatMap((file) =>
  [...prose(readDoc(file)).matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)]
    .map((m) => m[1]!)
    .filter((target) => !/^[a-z][a-z+.-]*:/i.test(target)) // http:, https:, mailto: … are not checked
    .map((target) => ({ file, target })),
);

describe('relative links in README.md and docs/*.md', () => {
  it('are there to check', () => {
    expect(links.length).toBeGreaterThan(10);
  });

  it.each(links.map((l) => [`${l.file} → ${l.target}`, l] as const))('%s resolves', (_name, { file, target }) => {
    const [path, anchor] = target.split('#') as [string, string | undefined];
    const resolved = path === '' ? file : normalize(join(dirname(file), decodeURIComponent(path)));
    expect(existsSync(join(ROOT, resolved)), `${resolved} exists`).toBe(true);
    if (anchor !== undefined) {
      expect(resolved.endsWith('.md') && statSync(join(ROOT, resolved)).isFile(), 'anchors only into Markdown files').toBe(true);
      expect([...anchors(readDoc(resolved))], `#${anchor} is a heading of ${resolved}`).toContain(anchor);
    }
  });
});

/** Paths of the repository named in code spans (`src/app.ts`, `test/integration/events/`), not patterns. */
const REPO_PATH = /^(?:src|test|bench|lab|load|harness|scripts|ops|docs|web|\.ci)\/[\w./-]*$/;
const named = DOCS.flatMap((file) =>
  [...readDoc(file).replace(/^```[\s\S]*?^```/gm, '').matchAll(/`([^`\n]+)`/g)]
    .map((m) => m[1]!.replace(/:\d+(?:-\d+)?$/, '')) // a line reference names the file
    .filter((path) => REPO_PATH.test(path))
    .map((path) => ({ file, path })),
);

describe('files named in README.md and docs/*.md', () => {
  it('are there to check', () => {
    expect(named.length).toBeGreaterThan(10);
  });

  it.each(named.map((n) => [`${n.file} names ${n.path}`, n] as const))('%s, which exists', (_name, { path }) => {
    expect(existsSync(join(ROOT, path)), `${path} exists`).toBe(true);
  });
});
