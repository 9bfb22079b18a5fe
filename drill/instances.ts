/**
 * The drill's service processes: each on a port of its own that it keeps across a restart (the
 * balancer's list does not change), its output kept in memory (the last lines, and a count of
 * unhandled rejections and uncaught exceptions), every exit recorded with whether the drill
 * caused it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort } from '../harness/processes.js';

const root = resolve(import.meta.dirname, '..');
const UNHANDLED = /unhandled|uncaught/i;

export interface Exit {
  instance: number;
  atMs: number;
  code: number | null;
  signal: string | null;
  /** The drill killed it on purpose. */
  deliberate: boolean;
}

export class Instance {
  private child: ChildProcess | undefined;
  private tail: string[] = [];
  unhandled = 0;
  private killing = false;

  constructor(
    readonly index: number,
    readonly port: number,
    private readonly env: Record<string, string>,
    private readonly onExit: (e: Exit) => void,
    /** A folder for its whole output (instance-N.log), kept after the drill for a look. */
    private readonly logDir: string,
  ) {}

  get logFile(): string {
    return join(this.logDir, `instance-${this.index}.log`);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** The last lines it printed. */
  output(): string {
    return this.tail.join('\n');
  }

  start() {
    const { DATABASE_URL: _d, REDIS_URL: _r, KAFKA_BROKERS: _k, EVENTS_REDIS_URL: _e, DATA_PLATFORM_URL: _p, ...inherited } = process.env;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: root,
      env: { ...inherited, ...this.env, PORT: String(this.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const keep = (d: Buffer) => {
      appendFileSync(this.logFile, d);
      for (const line of d.toString('utf8').split('\n')) {
        if (!line) continue;
        if (UNHANDLED.test(line)) this.unhandled++;
        this.tail.push(line.slice(0, 2_000));
        if (this.tail.length > 200) this.tail.shift();
      }
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      this.onExit({ instance: this.index, atMs: Date.now(), code, signal, deliberate: this.killing });
      this.killing = false;
    });
  }

  /** Sends `signal` and resolves once it has exited. `deliberate`: the drill's fault, not a crash. */
  async kill(signal: NodeJS.Signals, deliberate = true): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.killing = deliberate;
    const exited = new Promise((done) => child.once('exit', done));
    child.kill(signal);
    await exited;
  }

  /** Resolves once /health/ready answers 200; throws if the process exits first or after `seconds`. */
  async ready(seconds = 90): Promise<void> {
    for (let i = 0; i < seconds * 10; i++) {
      if (!this.child) throw new Error(`instance ${this.index} exited before it was ready:\n${this.output()}`);
      const ok = await fetch(`${this.url}/health/ready`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.ok, () => false);
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`instance ${this.index} not ready after ${seconds} s:\n${this.output()}`);
  }
}

/** Starts `count` instances with `env` (each its own port) and waits until all are ready. */
export async function startInstances(count: number, env: Record<string, string>, onExit: (e: Exit) => void, logDir: string): Promise<Instance[]> {
  const instances: Instance[] = [];
  for (let i = 0; i < count; i++) instances.push(new Instance(i, await freePort(), env, onExit, logDir));
  // The first one migrates the database; the others start once it is ready.
  instances[0]!.start();
  await instances[0]!.ready();
  for (const instance of instances.slice(1)) instance.start();
  await Promise.all(instances.slice(1).map((i) => i.ready()));
  return instances;
}
