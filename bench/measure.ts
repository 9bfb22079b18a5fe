/** One scenario's measurement: autocannon against a URL, and the CPU time it cost the service and PostgreSQL. */
import { readdirSync, readFileSync } from 'node:fs';
import autocannon from 'autocannon';

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

/** CPU seconds used so far by the service process and by all PostgreSQL processes (Linux /proc). */
function cpuSeconds(servicePid: number): { service: number; postgres: number } {
  const ticks = (pid: string) => {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return { name: readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), cpu: Number(fields[11]) + Number(fields[12]) };
    } catch {
      return { name: '', cpu: 0 };
    }
  };
  let postgres = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    const t = ticks(pid);
    if (t.name === 'postgres') postgres += t.cpu;
  }
  return { service: ticks(String(servicePid)).cpu / 100, postgres: postgres / 100 };
}

/** A measure that runs each scenario with these connections and duration and prints its line. */
export function createMeasure(config: { connections: number; duration: number; servicePid: number; rate?: number | undefined }): Measure {
  return async (scenario, url, opts) => {
    const pid = opts.pid ?? config.servicePid;
    const rate = opts.rate ?? config.rate;
    const cpuBefore = cpuSeconds(pid);
    const result = await autocannon({
      url,
      connections: config.connections,
      ...(opts.amount ? { amount: opts.amount } : { duration: config.duration }),
      ...(rate ? { overallRate: rate } : {}),
      requests: opts.requests,
    } as autocannon.Options);
    const cpuAfter = cpuSeconds(pid);
    const perRequest = (seconds: number) => Math.round((seconds * 1000 * 1000) / Math.max(1, result.requests.total)) / 1000;
    const row = {
      scenario,
      serviceCpuMsPerRequest: perRequest(cpuAfter.service - cpuBefore.service),
      postgresCpuMsPerRequest: perRequest(cpuAfter.postgres - cpuBefore.postgres),
      requestsPerSecond: Math.round(result.requests.average),
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
