import { spawnSync } from 'node:child_process';
import { afterAll, expect, inject, it } from 'vitest';
import { startServiceProcess, type ServiceProcess } from '../support/service-process.js';

/**
 * The service listens with HTTP_LISTEN_BACKLOG (the kernel's queue of connections not accepted
 * yet), not Node's 511: read back from the listening socket with `ss`, whose Send-Q column is a
 * listening socket's backlog.
 */
const ss = spawnSync('ss', ['-V'], { encoding: 'utf8' });
const hasSs = ss.status === 0;

let service: ServiceProcess | undefined;
afterAll(async () => {
  await service?.kill('SIGTERM');
});

/** The backlog of the socket listening on `port`, as the kernel reports it. */
function backlogOf(port: number): number {
  const out = spawnSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' }).stdout.trim();
  const [, , sendQ] = out.split(/\s+/);
  return Number(sendQ);
}

it.skipIf(!hasSs)(
  `${hasSs ? '' : '(skipped: the ss command of iproute2 is not installed) '}listens with the configured backlog`,
  { timeout: 90_000 },
  async () => {
    const somaxconn = Number(spawnSync('sysctl', ['-n', 'net.core.somaxconn'], { encoding: 'utf8' }).stdout.trim() || '4096');
    const wanted = Math.min(777, somaxconn);
    service = await startServiceProcess({ DATABASE_URL: inject('databaseUrl'), HTTP_LISTEN_BACKLOG: '777' });
    expect(backlogOf(Number(new URL(service.base).port))).toBe(wanted);
  },
);
