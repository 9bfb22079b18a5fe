import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { dashboardExpressions, dashboards, RULES } from '../ops/tools.js';
import { firstCode, readDoc, table } from './markdown.js';

const documented = table(readDoc('docs/operations.md'), ['metric', 'type', 'labels', 'meaning']).map(([name]) => firstCode(name!)!);

/** Metric names an expression reads: labels, ranges, strings, grouping lists and function calls left out. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"[^"]*"/g, '')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  return [...bare.matchAll(/\b([a-zA-Z_:][\w:]*)\b(?!\s*\()/g)]
    .map((m) => m[1]!)
    .filter((n) => !/^(and|or|unless|bool|offset|e|inf|nan)$/i.test(n) && !n.includes(':') && n !== 'up')
    .map((n) => n.replace(/_(bucket|sum|count)$/, ''));
}

/** A documented family: the name itself, or a default collector's variant of it (`nodejs_eventloop_lag_p99_seconds`). */
const isDocumented = (name: string) =>
  documented.includes(name) || documented.some((d) => d.endsWith('_seconds') && name.startsWith(d.replace(/_seconds$/, '_')));

describe('the metrics table of docs/operations.md', () => {
  const rules = [...readFileSync(RULES, 'utf8').matchAll(/expr:\s*(\|\n(?:\s{10}.*\n)+|.*)/g)].map((m) => m[1]!);
  const used = new Set([...rules, ...dashboards().flatMap((d) => dashboardExpressions(d).map((e) => e.expr))].flatMap(metricNames));

  it('finds the metrics the alerts and dashboards read', () => {
    expect(used.size).toBeGreaterThan(20);
  });

  it('lists every metric the alerts and dashboards read', () => {
    expect([...used].filter((name) => !isDocumented(name)).sort()).toEqual([]);
  });
});
