import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The repository's root. */
export const ROOT = resolve(import.meta.dirname, '../..');

/** Whether a command is on PATH. */
export const onPath = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`]).status === 0;

/** A test title that says why it is skipped when `command` is missing. */
export const needs = (title: string, ...commands: string[]) => {
  const missing = commands.filter((c) => !onPath(c));
  return { skip: missing.length > 0, title: missing.length ? `${title} (skipped: ${missing.join(', ')} not on PATH)` : title };
};

export const RULES = join(ROOT, 'ops/prometheus/rules/ticketing.yml');
export const DASHBOARDS = join(ROOT, 'ops/grafana/dashboards');

export interface Alert {
  name: string;
  runbookUrl: string | undefined;
}

/** The alerts of the rules file, with their runbook_url annotation (read as text: one alert per `- alert:`). */
export function alerts(): Alert[] {
  return readFileSync(RULES, 'utf8')
    .split(/^\s*- alert:\s*/m)
    .slice(1)
    .map((block) => ({ name: block.split(/\s/, 1)[0]!, runbookUrl: /^\s*runbook_url:\s*(\S+)/m.exec(block)?.[1] }));
}

interface Panel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating?: { list: { name: string; definition?: string }[] };
}

export const dashboards = (): Dashboard[] =>
  readdirSync(DASHBOARDS)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(DASHBOARDS, f), 'utf8')) as Dashboard);

/** Every PromQL expression of a dashboard: its panels' targets, and its variables' `label_values(expr, label)` queries. */
export function dashboardExpressions(d: Dashboard): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const walk = (panels: Panel[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ where: `${d.title} / ${p.title}`, expr: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk(d.panels);
  for (const v of d.templating?.list ?? []) {
    const m = /^label_values\((.+),\s*\w+\)$/.exec(v.definition ?? '');
    if (m) out.push({ where: `${d.title} / variable ${v.name}`, expr: m[1]! });
  }
  return out;
}

/** Grafana's variables replaced as a dashboard would at a 1 s scrape interval, every instance selected. */
export const substitute = (expr: string) =>
  expr
    .replaceAll('$__rate_interval', '30s')
    .replaceAll('$__interval', '5s')
    .replaceAll('$__range', '5m')
    .replaceAll('$instance', '.*');

/**
 * The comparisons an alert expression is made of (`quantity > threshold`, joined by `and`/`or`):
 * each one's quantity. Not firing, the alert's expression returns nothing; its quantities must not.
 */
export function quantities(expr: string): string[] {
  return expr
    .split(/\s+(?:and|or|unless)(?:\s+on\s*\([^)]*\))?\s+/)
    .map((part) => /^([\s\S]+?)\s*(?:>|<|>=|<=|==|!=)\s*-?[\d.]+(?:e[+-]?\d+)?$/.exec(part.trim())?.[1] ?? part.trim());
}
