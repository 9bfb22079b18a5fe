/** One scenario's measurement: autocannon against a URL, and the CPU time it cost the service and PostgreSQL. */
import autocannon from 'autocannon';
import { cpuSeconds } from '../harness/cpu.js';

export type Request = autocannon.Request;

/** A scenario's figures, before its ratio to the bare route is known. */
export interface Measured {
  scenario: string;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  /** CPU milliseconds per request spent by the service process and by PostgreSQL. */
  serviceCpuMsPerRequest: number;
  postgresCpuMsPerRequest: number;
}

export interface MeasureOptions {
  requests?: Request[];
  /** Send this many requests instead of running for the whole duration. */
  amount?: number;
  /** The process whose CPU time counts as the service's (default: the first service). */
  pid?: number | undefined;
  /** Requests per second over all connections, instead of as fast as the server answers. */
  rate?: number;
}

export type Measure = (scenario: string, url: string, opts: MeasureOptions) => Promise<Measured>;

/** A measure that runs each scenario with these connections and duration and prints its line. */
export function createMeasure(config: {
  connections: number;
  duration: number;
  servicePid: number;
  postgresPid?: number | undefined;
  rate?: number | undefined;
}): Measure {
  return async (scenario, url, opts) => {
    const pid = opts.pid ?? config.servicePid;
    const rate = opts.rate ?? config.rate;
    const cpuBefore = cpuSeconds([pid], config.postgresPid);
    const result = await autocannon({
      url,
      connections: config.connections,
      ...(opts.amount ? { amount: opts.amount } : { duration: config.duration }),
      ...(rate ? { overallRate: rate } : {}),
      requests: opts.requests,
    } as autocannon.Options);
    const cpuAfter = cpuSeconds([pid], config.postgresPid);
    const perRequest = (seconds: number) => Math.round((seconds * 1000 * 1000) / Math.max(1, result.requests.total)) / 1000;
    const row = {
      scenario,
      serviceCpuMsPerRequest: perRequest(cpuAfter.service - cpuBefore.service),
      postgresCpuMsPerRequest: perRequest(cpuAfter.postgres - cpuBefore.postgres),
      // A run of `amount` requests ends part way through a second: its rate is the total over the
      // time it took (autocannon's average counts whole seconds only).
      requestsPerSecond: Math.round(opts.amount ? result.requests.total / Math.max(0.01, result.duration) : result.requests.average),
      p50Ms: result.latency.p50,
      p99Ms: result.latency.p99,
      non2xx: result.non2xx,
      errors: result.errors + result.timeouts,
    };
    console.log(
      `  ${scenario.padEnd(24)} ${String(row.requestsPerSecond).padStart(7)} req/s  p50 ${row.p50Ms} ms  p99 ${row.p99Ms} ms` +
        `  non-2xx ${row.non2xx}  errors ${row.errors}  cpu/req: service ${row.serviceCpuMsPerRequest} ms, postgres ${row.postgresCpuMsPerRequest} ms`,
    );
    return row;
  };
}
