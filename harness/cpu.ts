/** CPU time the measured processes have used, read from Linux /proc (zero elsewhere). */
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';

function stat(pid: string): { name: string; ppid: number; cpu: number } {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return { name: readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), ppid: Number(fields[1]), cpu: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return { name: '', ppid: 0, cpu: 0 };
  }
}

/**
 * CPU seconds used so far by the service processes `servicePids` (summed) and by PostgreSQL: the
 * server whose postmaster is `postmasterPid` (it and its children), or every `postgres` process
 * on the machine when it is not given.
 */
export function cpuSeconds(servicePids: number[], postmasterPid?: number): { service: number; postgres: number } {
  let postgres = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    const t = stat(pid);
    if (t.name !== 'postgres') continue;
    if (postmasterPid === undefined || Number(pid) === postmasterPid || t.ppid === postmasterPid) postgres += t.cpu;
  }
  const service = servicePids.reduce((sum, pid) => sum + stat(String(pid)).cpu, 0);
  return { service: service / 100, postgres: postgres / 100 };
}

/** The pid of the postmaster serving `databaseUrl` when it runs on this machine (else undefined). */
export async function postmasterPid(databaseUrl: string): Promise<number | undefined> {
  const client = new pg.Client({ connectionString: databaseUrl });
  try {
    await client.connect();
    const backend = Number((await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid);
    const parent = stat(String(backend));
    return parent.name === 'postgres' ? parent.ppid : undefined;
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => {});
  }
}
