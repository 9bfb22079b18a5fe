/** The run's report: each scenario's ratio to the bare route, the table printed at the end, and the JSON file. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { countViolations, type Invariants } from '../harness/invariants.js';
import type { Measured } from './measure.js';
import type { EventLag } from './scenarios/events.js';

export interface Row extends Measured {
  /** requests/s as a share of the bare route's. */
  ratioToBare: number;
}

/** The rows of a run, starting with the bare route; `add` puts each later row in proportion to it. */
export function createRows(bare: Measured): { rows: Row[]; add(row: Measured): void } {
  const rows: Row[] = [{ ...bare, ratioToBare: 1 }];
  return {
    rows,
    add: (row) => {
      rows.push({ ...row, ratioToBare: Math.round((row.requestsPerSecond / bare.requestsPerSecond) * 1000) / 1000 });
    },
  };
}

export interface Report {
  duration: number;
  connections: number;
  database: 'DATABASE_URL' | 'embedded';
  rows: Row[];
  eventLag: EventLag | undefined;
  invariants: Invariants;
}

/** Prints the markdown table and the invariants, writes the JSON to `out`; returns the number of violations. */
export function writeReport(out: string, report: Report): number {
  const { rows, invariants } = report;
  const violations = countViolations(invariants);
  console.log('\n| scenario | req/s | p50 ms | p99 ms | non-2xx | ratio to bare | CPU ms/req service | CPU ms/req PostgreSQL |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    console.log(
      `| ${r.scenario} | ${r.requestsPerSecond} | ${r.p50Ms} | ${r.p99Ms} | ${r.non2xx} | ${r.ratioToBare} | ${r.serviceCpuMsPerRequest} | ${r.postgresCpuMsPerRequest} |`,
    );
  }
  console.log(`\ninvariants: ${JSON.stringify(invariants)} -> ${violations === 0 ? 'no violations' : `${violations} VIOLATIONS`}`);

  mkdirSync(join(out, '..'), { recursive: true });
  const { duration, connections, database, eventLag } = report;
  writeFileSync(out, `${JSON.stringify({ at: new Date().toISOString(), duration, connections, database, rows, eventLag, invariants }, null, 2)}\n`);
  return violations;
}
