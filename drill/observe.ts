/**
 * What the drill watches while the sale runs: the users' requests through a balancer in front of
 * the instances (round-robin over the instances that answer; one that drops a connection or whose
 * probe is refused is taken out until a probe gets an HTTP answer again, as a TCP health check
 * would), each
 * request recorded with its start and end; every instance's /health/ready every 250 ms; and each
 * second, the instances' resident memory (RSS) and the database's outbox backlog.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { createClient, type Call, type Client } from '../load/client.js';
import type { Recorder } from '../load/recorder.js';
import type { Instance } from './instances.js';
import type { ReadinessSample, RequestRecord } from './timeline.js';

/** Errors of a connection nobody took: nothing listens there (yet). */
const REFUSED = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE']);

export interface MemorySample {
  atMs: number;
  instance: number;
  rssMb: number;
}

export interface OutboxSample {
  atMs: number;
  unsent: number;
}

export class Observer {
  readonly requests: RequestRecord[] = [];
  readonly readiness: ReadinessSample[] = [];
  readonly memory: MemorySample[] = [];
  readonly outbox: OutboxSample[] = [];
  /** Each second, what `extra` returns (the data platform's deliveries, say). */
  readonly extra: { atMs: number; value: number }[] = [];
  /** Instances the balancer does not send to right now. */
  private readonly out = new Set<number>();
  private timers: NodeJS.Timeout[] = [];
  private db: pg.Client | undefined;
  private next = 0;

  constructor(private readonly instances: Instance[], private readonly databaseUrl: string) {}

  /** The users' client for load/drive.ts: one keep-alive client per instance behind the balancer. */
  readonly client = (_targets: string[], recorder: Recorder): Client => {
    const clients = this.instances.map((i) => createClient([i.url], recorder));
    const call: Call = async (step, method, path, options) => {
      const up = this.instances.filter((i) => !this.out.has(i.index));
      const pool = up.length > 0 ? up : this.instances;
      const target = pool[this.next++ % pool.length]!;
      const startMs = Date.now();
      const a = await clients[target.index]!.call(step, method, path, options);
      if (a.status === 0) this.out.add(target.index);
      this.requests.push({ step, startMs, endMs: Date.now(), status: a.status, code: a.code, retryAfter: a.retryAfterSeconds !== undefined, outcome: a.outcome });
      return a;
    };
    return { call, targets: this.instances.map((i) => i.url), close: () => clients.forEach((c) => c.close()) };
  };

  start(extra?: () => number, probeMs = 250) {
    if (extra) this.timers.push(setInterval(() => this.extra.push({ atMs: Date.now(), value: extra() }), 1_000));
    for (const instance of this.instances) {
      let busy = false;
      this.timers.push(setInterval(() => {
        if (busy) return;
        busy = true;
        const atMs = Date.now();
        fetch(`${instance.url}/health/ready`, { signal: AbortSignal.timeout(1_000) })
          .then(async (r) => ({ status: r.status, refused: (await r.arrayBuffer(), false) }), (e: Error & { cause?: { code?: string } }) => ({ status: 0, refused: REFUSED.has(e.cause?.code ?? '') }))
          .then(({ status, refused }) => {
            this.readiness.push({ atMs, instance: instance.index, status });
            // Any HTTP answer puts it back; only a refused connection takes it out: a probe that
            // timed out on a busy instance says nothing a balancer should act on.
            if (status > 0) this.out.delete(instance.index);
            else if (refused) this.out.add(instance.index);
          })
          .finally(() => (busy = false));
      }, probeMs));
    }
    this.timers.push(setInterval(() => this.sampleMemory(), 1_000));
    this.timers.push(setInterval(() => void this.sampleOutbox(), 1_000));
  }

  private sampleMemory() {
    const atMs = Date.now();
    for (const i of this.instances) {
      if (!i.pid) continue;
      try {
        const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${i.pid}/status`, 'utf8'))?.[1]);
        if (Number.isFinite(kb)) this.memory.push({ atMs, instance: i.index, rssMb: Math.round(kb / 102.4) / 10 });
      } catch {
        // it has just exited
      }
    }
  }

  private sampling = false;
  private async sampleOutbox() {
    if (this.sampling) return;
    this.sampling = true;
    try {
      if (!this.db) {
        const db = new pg.Client({ connectionString: this.databaseUrl, connectionTimeoutMillis: 1_000, query_timeout: 2_000 });
        db.on('error', () => {});
        await db.connect();
        this.db = db;
      }
      const { rows } = await this.db.query('SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL');
      this.outbox.push({ atMs: Date.now(), unsent: rows[0].n });
    } catch {
      // the database is down (a drill may do that): reconnect on the next sample
      await this.db?.end().catch(() => {});
      this.db = undefined;
    } finally {
      this.sampling = false;
    }
  }

  async stop() {
    this.timers.forEach(clearInterval);
    this.timers = [];
    await this.db?.end().catch(() => {});
    this.db = undefined;
  }
}
