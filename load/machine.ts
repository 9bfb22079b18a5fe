/** The machine a run was measured on, for the report: CPU, memory, Node, PostgreSQL and Redis. */
import os from 'node:os';
import pg from 'pg';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGb: number;
  os: string;
  node: string;
  postgres: string;
  redis: boolean;
  instances: number;
}

async function postgresVersion(databaseUrl: string | undefined): Promise<string> {
  if (!databaseUrl) return 'unknown';
  const client = new pg.Client({ connectionString: databaseUrl });
  try {
    await client.connect();
    return String((await client.query('SHOW server_version')).rows[0].server_version);
  } catch {
    return 'unknown';
  } finally {
    await client.end().catch(() => {});
  }
}

/** `database` says where PostgreSQL ran (embedded, DATABASE_URL, the deployment's). */
export async function machineInfo(databaseUrl: string | undefined, database: string, redis: boolean, instances: number): Promise<MachineInfo> {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    postgres: `${await postgresVersion(databaseUrl)} (${database})`,
    redis,
    instances,
  };
}
