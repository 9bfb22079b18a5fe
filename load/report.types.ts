/** The shape of the load report (load.json), shared by the report, its Markdown and its charts. */
import type { SaleCounts, SaleInvariants } from './invariants.js';
import type { MachineInfo } from './machine.js';
import type { ErrorCount, Recorder, StepFigures } from './recorder.js';
import type { TimelinePoint } from './sale.js';
import type { Samples } from './server-metrics.js';
import type { Verdict } from './thresholds.js';

export interface LoadReport {
  at: string;
  passed: boolean;
  settings: Record<string, unknown>;
  serviceSettings: Record<string, string>;
  machine: MachineInfo;
  seconds: number;
  /** Until the last request ended: the grace period after the deadline included. */
  secondsWithGrace: number;
  requests: number;
  /** requests / secondsWithGrace. */
  requestsPerSecond: number;
  retries: number;
  seats: number;
  sellOutSeconds: number | null;
  firstToldSoldOutSeconds: number | null;
  endings: Record<string, number>;
  failures: Record<string, number>;
  steps: Record<string, StepFigures>;
  verdicts: Verdict[];
  invariants: SaleInvariants | null;
  counts: SaleCounts | null;
  expiredHoldsPaid: number;
  errors: ErrorCount[];
  funnel: Samples;
  cpu: { generatorSeconds: number; serviceSeconds: number | null; postgresSeconds: number | null };
  loopDelayMs: { p50: number; p99: number; max: number };
  /** Users who joined the line and were never admitted. */
  neverAdmitted: number;
  timeInLine: { users: number; p50: number; p95: number; p99: number; max: number };
  series: {
    timeline: TimelinePoint[];
    requestsPerSecond: number[];
    requestsPerSecondByStep: Record<string, number>[];
    errorsPerSecond: Record<string, number>[];
    admissionsPerSecond: number[];
    seatsSold: number[];
    windows: ReturnType<Recorder['windowFigures']>;
    timeInLineSeconds: number[];
  };
}
