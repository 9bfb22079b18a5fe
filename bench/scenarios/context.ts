import type { Fixtures } from '../fixtures.js';
import type { Measure, Measured } from '../measure.js';
import type { Processes } from '../processes.js';

/** What every scenario group is given: the running instances, the shared data, and where its rows go. */
export interface ScenarioContext {
  processes: Processes;
  fixtures: Fixtures;
  measure: Measure;
  /** Keeps a scenario's row, with its ratio to the bare route, for the report. */
  add(row: Measured): void;
}
