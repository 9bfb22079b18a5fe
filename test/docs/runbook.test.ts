import { describe, expect, it } from 'vitest';
import { alerts } from '../ops/tools.js';
import { anchors, readDoc } from './markdown.js';

const runbook = readDoc('docs/runbook.md');
const headings = [...runbook.matchAll(/^## (.+)$/gm)].map((m) => m[1]!.trim());
/** One section per alert, then one per failure drill ("Drill: <scenario>"). */
const sections = headings.filter((h) => !h.startsWith('Drill: '));
const drills = headings.filter((h) => h.startsWith('Drill: '));
const DRILLS = ['kill-instance', 'postgres-restart', 'redis-loss', 'broker-outage', 'data-platform-down', 'overload'];

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

  it('has a section per failure drill, each saying the symptoms, how to confirm, what to do, how to verify recovery and what was measured', () => {
    expect(drills).toEqual(DRILLS.map((d) => `Drill: ${d}`));
    for (const drill of drills) {
      const body = runbook.split(/^## /m).find((part) => part.startsWith(`${drill}\n`))!;
      for (const part of ['**Symptoms.**', '**How to confirm.**', '**What to do.**', '**How to verify recovery.**', '**Measured.**']) {
        expect(body, `${drill}: ${part}`).toContain(part);
      }
    }
  });
});
