/** The shape of the drill report (drill.json), shared by the report and its Markdown. */
import type { SaleCounts, SaleInvariants } from '../load/invariants.js';
import type { MachineInfo } from '../load/machine.js';
import type { Verdict } from '../load/thresholds.js';
import type { SinkCheck, StreamOrder } from './checks.js';
import type { Analysis } from './timeline.js';

export interface TimelineEntry {
  atMs: number;
  what: string;
}

export interface DrillReport {
  at: string;
  scenario: string;
  fault: string;
  passed: boolean;
  settings: Record<string, unknown>;
  serviceSettings: Record<string, string>;
  machine: MachineInfo;
  /** 1, 5 and 15 minute load averages before and after the sale: the machine is shared. */
  loadAverage: { before: number[]; after: number[] };
  /** Seconds since the sale opened. */
  faultWindow: { startSecond: number; endSecond: number };
  timeline: { second: number; what: string }[];
  recovery: {
    readinessNoticedSeconds: number | null;
    readinessBackSeconds: number | null;
    firstSuccessSeconds: number | null;
    fullServiceSeconds: number | null;
    lastStepBack?: string;
    stepsNeverBack: string[];
    failedAfterReturn: Record<string, number>;
    alerts: { alert: string; state: string; instance: string | undefined; afterFaultSeconds: number }[];
    alertsNotEvaluated: string | undefined;
  };
  requests: Analysis['requests'];
  failures: Analysis['failures'];
  refusals: Analysis['refusals'];
  fiveXx: Analysis['fiveXx'];
  latency: Analysis['latency'];
  verdicts: Verdict[];
  invariants: SaleInvariants;
  /** Invariants reported, not judged here, with why (lost answers; events where not a target). */
  reportedInvariants: Record<string, number>;
  counts: SaleCounts;
  doubleDebits: number;
  sink: SinkCheck | undefined;
  streamOrder: StreamOrder | undefined;
  outbox: { peak: number; before: number; drainedSeconds: number | null };
  line: { peak: number; peakSecond: number; drainedSecond: number | null };
  peakRssMb: Record<string, number>;
  /** Requests the instances shed, by `reason method route` (their http_requests_shed_total at the end). */
  sheds: Record<string, number>;
  sale: { requests: number; retries: number; endings: Record<string, number>; failures: Record<string, number>; seconds: number };
  series: { okPerSecond: number[]; failedPerSecond: number[]; readyInstances: number[]; outboxUnsent: [number, number][]; sinkDelivered: [number, number][] };
}
