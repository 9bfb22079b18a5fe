/** CPU time the measured processes have used, read from Linux /proc (zero elsewhere). */
import { readdirSync, readFileSync } from 'node:fs';

function ticks(pid: string): { name: string; cpu: number } {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return { name: readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), cpu: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return { name: '', cpu: 0 };
  }
}

/**
 * CPU seconds used so far by the service processes `servicePids` (summed) and by all PostgreSQL
 * processes on the machine.
 */
export function cpuSeconds(servicePids: number[]): { service: number; postgres: number } {
  let postgres = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    const t = ticks(pid);
    if (t.name === 'postgres') postgres += t.cpu;
  }
  const service = servicePids.reduce((sum, pid) => sum + ticks(String(pid)).cpu, 0);
  return { service: service / 100, postgres: postgres / 100 };
}
