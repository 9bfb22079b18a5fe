import { describe, expect, it } from 'vitest';
import { alerts } from '../ops/tools.js';
import { anchors, readDoc } from './markdown.js';

const runbook = readDoc('docs/runbook.md');
const sections = [...runbook.matchAll(/^## (.+)$/gm)].map((m) => m[1]!.trim());

describe('docs/runbook.md', () => {
  it('has a section per alert of ops/prometheus/rules, and none for an alert that does not exist', () => {
    expect(sections.sort()).toEqual(alerts().map((a) => a.name).sort());
  });

  it.each(alerts().map((a) => [a.name, a] as const))("%s's runbook_url leads to its section", (name, alert) => {
    const [path, anchor] = (alert.runbookUrl ?? '').split('#');
    expect(path, 'runbook_url names docs/runbook.md').toBe('docs/runbook.md');
    expect([...anchors(runbook)]).toContain(anchor);
    expect(anchor).toBe(name.toLowerCase());
  });

  it.each(sections.map((s) => [s]))('%s: says what it means, what to look at and what to do', (section) => {
    const body = runbook.split(/^## /m).find((part) => part.startsWith(`${section}\n`))!;
    for (const part of ['**What it means.**', '**What to look at.**', '**What to do.**']) expect(body).toContain(part);
  });
});
