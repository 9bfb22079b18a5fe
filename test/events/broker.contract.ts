import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UnpublishableMessageError, type Broker, type BrokerMessage, type SubscribeOptions, type Subscription } from '../../src/modules/events/broker.js';

export interface BrokerFixture {
  broker: Broker;
  /** The largest message the broker takes (its configured limit, or the server's for Kafka). */
  maxMessageBytes: number;
  cleanup(): Promise<void>;
}

export interface BrokerContractOptions {
  /**
   * Time to let a group settle after a member joins or leaves before publishing (Kafka rebalances;
   * the other adapters need none).
   */
  settleMs?: number;
  /** How long to wait for a delivery before failing (default 10 s; waits end as soon as it comes). */
  waitMs?: number;
}

/** Short enough to keep the suite fast, long enough to tell "redelivered" from "handled twice". */
const REDELIVER_MS = 200;

const uid = () => randomUUID().slice(0, 8);

function makeMessages(n: number, key: (i: number) => string = () => `k-${uid()}`): BrokerMessage[] {
  return Array.from({ length: n }, (_, i) => ({ id: randomUUID(), key: key(i), value: JSON.stringify({ i, at: 'x' }) }));
}

const seqOf = (m: BrokerMessage) => (JSON.parse(m.value) as { i: number }).i;

/**
 * The behaviour every Broker adapter must share. One broker serves the whole suite; each test uses
 * its own random topic and group names, so tests never see each other's messages.
 */
export function describeBrokerContract(
  name: string,
  makeBroker: () => Promise<BrokerFixture>,
  options: BrokerContractOptions = {},
) {
  const settleMs = options.settleMs ?? 0;
  const waitMs = options.waitMs ?? 10_000;

  describe(name, () => {
    let fixture: BrokerFixture | undefined;
    let broker: Broker;
    let open: Subscription[] = [];

    beforeAll(async () => {
      fixture = await makeBroker();
      broker = fixture.broker;
    });
    afterEach(async () => {
      await Promise.all(open.map((s) => s.close()));
      open = [];
    });
    afterAll(async () => {
      await fixture?.cleanup();
    });

    const names = () => ({ topic: `t-${uid()}`, group: `g-${uid()}` });

    async function subscribe(topic: string, opts: SubscribeOptions, handler: (m: BrokerMessage) => Promise<void>) {
      const sub = await broker.subscribe(topic, { redeliverAfterMs: REDELIVER_MS, ...opts }, handler);
      open.push(sub);
      return sub;
    }

    /** Subscribes a member that records what it handles. */
    async function collector(topic: string, opts: SubscribeOptions, delayMs = 0) {
      const seen: BrokerMessage[] = [];
      const sub = await subscribe(topic, opts, async (m) => {
        if (delayMs > 0) await sleep(delayMs);
        seen.push(m);
      });
      return { seen, sub };
    }

    async function waitFor(what: string, predicate: () => boolean) {
      const deadline = Date.now() + waitMs;
      while (!predicate()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(10);
      }
    }

    const settle = () => (settleMs > 0 ? sleep(settleMs) : Promise.resolve());

    it('answers ping', async () => {
      expect(await broker.ping()).toBe(true);
    });

    it('delivers every message once, in order, with id, key and value intact', async () => {
      const { topic, group } = names();
      const { seen } = await collector(topic, { group, consumer: 'c1' });
      await settle();
      const sent = makeMessages(30);
      await broker.publish(topic, sent.slice(0, 10));
      await broker.publish(topic, sent.slice(10));
      await waitFor('30 messages', () => seen.length >= 30);
      await sleep(REDELIVER_MS * 2); // nothing more comes
      expect(seen).toEqual(sent);
    });

    it('gives each group every message', async () => {
      const { topic } = names();
      const a = await collector(topic, { group: `ga-${uid()}`, consumer: 'c1' });
      const b = await collector(topic, { group: `gb-${uid()}`, consumer: 'c1' });
      await settle();
      const sent = makeMessages(50);
      await broker.publish(topic, sent);
      await waitFor('both groups', () => a.seen.length >= 50 && b.seen.length >= 50);
      expect(a.seen).toEqual(sent);
      expect(b.seen).toEqual(sent);
    });

    it('shares a group between its members, no message handled by both', async () => {
      const { topic, group } = names();
      const a = await collector(topic, { group, consumer: 'c1' }, 2);
      const b = await collector(topic, { group, consumer: 'c2' }, 2);
      await settle();
      const sent = makeMessages(100, (i) => `k${i % 10}-${uid()}`);
      await broker.publish(topic, sent);
      await waitFor('100 messages', () => a.seen.length + b.seen.length >= 100);
      await sleep(REDELIVER_MS * 2);
      const ids = [...a.seen, ...b.seen].map((m) => m.id);
      expect(ids).toHaveLength(100);
      expect(new Set(ids)).toEqual(new Set(sent.map((m) => m.id)));
      // Kafka shares by partition, so who gets what depends on the topic's partitions.
      if (broker.kind !== 'kafka') {
        expect(a.seen.length).toBeGreaterThan(0);
        expect(b.seen.length).toBeGreaterThan(0);
      }
    });

    it('redelivers a message whose handler threw, after redeliverAfterMs, and not once it succeeded', async () => {
      const { topic, group } = names();
      const [bad, ...good] = makeMessages(4);
      const attempts: number[] = [];
      const done: string[] = [];
      await subscribe(topic, { group, consumer: 'c1' }, async (m) => {
        if (m.id === bad!.id) {
          attempts.push(Date.now());
          if (attempts.length < 3) throw new Error('boom');
        }
        done.push(m.id);
      });
      await settle();
      await broker.publish(topic, [bad!, ...good]);
      await waitFor('the failing message to succeed', () => done.includes(bad!.id));
      await sleep(REDELIVER_MS * 3);
      expect(attempts).toHaveLength(3);
      expect(attempts[1]! - attempts[0]!).toBeGreaterThanOrEqual(REDELIVER_MS / 2);
      expect([...done].sort()).toEqual([bad!, ...good].map((m) => m.id).sort());
    });

    it('hands a stopped member’s unacknowledged message to another member of the group', async () => {
      const { topic, group } = names();
      let release!: () => void;
      const stuck = new Promise<void>((resolve) => (release = resolve));
      const taken: BrokerMessage[] = [];
      const a = await broker.subscribe(topic, { group, consumer: 'dying', redeliverAfterMs: REDELIVER_MS }, async (m) => {
        taken.push(m);
        await stuck; // never finishes while the member is alive
      });
      await settle();
      const [message] = makeMessages(1);
      await broker.publish(topic, [message!]);
      await waitFor('the first member to take it', () => taken.length === 1);

      const closing = a.close(); // stops; its handler hangs on, unacknowledged
      const b = await collector(topic, { group, consumer: 'heir' });
      await waitFor('the other member to get it', () => b.seen.length === 1);
      expect(b.seen[0]).toEqual(message);

      release();
      await closing;
      await sleep(REDELIVER_MS * 2);
      expect(b.seen).toHaveLength(1);
    });

    it('delivers to a new group what was published before it subscribed', async () => {
      const { topic, group } = names();
      const sent = makeMessages(20);
      await broker.publish(topic, sent);
      const { seen } = await collector(topic, { group, consumer: 'late' });
      await waitFor('20 messages', () => seen.length >= 20);
      expect(seen).toEqual(sent);
    });

    it('resumes a group where it left off after all its members closed', async () => {
      const { topic, group } = names();
      const first = await collector(topic, { group, consumer: 'c1' });
      await settle();
      const before = makeMessages(10);
      await broker.publish(topic, before);
      await waitFor('10 messages', () => first.seen.length >= 10);
      await first.sub.close();

      const after = makeMessages(10);
      await broker.publish(topic, after);
      await sleep(50);
      expect(first.seen).toEqual(before); // a closed member takes nothing
      const second = await collector(topic, { group, consumer: 'c1' });
      await waitFor('10 more messages', () => second.seen.length >= 10);
      await sleep(REDELIVER_MS * 2);
      expect(second.seen).toEqual(after);
    });

    it('keeps order per key with concurrency 1', async () => {
      const { topic, group } = names();
      const keys = ['a', 'b', 'c'].map((k) => `${k}-${uid()}`);
      const { seen } = await collector(topic, { group, consumer: 'c1', concurrency: 1 }, 1);
      await settle();
      const sent = makeMessages(60, (i) => keys[i % 3]!);
      for (let i = 0; i < 60; i += 15) await broker.publish(topic, sent.slice(i, i + 15));
      await waitFor('60 messages', () => seen.length >= 60);
      for (const key of keys) {
        const got = seen.filter((m) => m.key === key).map(seqOf);
        const want = sent.filter((m) => m.key === key).map(seqOf);
        expect(got).toEqual(want);
      }
    });

    it('runs at most `concurrency` handlers at once', async () => {
      const { topic, group } = names();
      let now = 0;
      let max = 0;
      let handled = 0;
      await subscribe(topic, { group, consumer: 'c1', concurrency: 4 }, async () => {
        now++;
        max = Math.max(max, now);
        await sleep(20);
        now--;
        handled++;
      });
      await settle();
      await broker.publish(topic, makeMessages(24));
      await waitFor('24 messages', () => handled >= 24);
      expect(max).toBeLessThanOrEqual(4);
      expect(max).toBeGreaterThan(1);
    });

    it('resolves the publish of a batch of 1,000 and delivers all of it', async () => {
      const { topic, group } = names();
      const { seen } = await collector(topic, { group, consumer: 'c1', concurrency: 16 });
      await settle();
      const sent = makeMessages(1_000, (i) => `k${i % 50}`);
      await broker.publish(topic, sent);
      await waitFor('1,000 messages', () => seen.length >= 1_000);
      expect(new Set(seen.map((m) => m.id)).size).toBe(1_000);
      expect(seen).toHaveLength(1_000);
    });

    it('refuses a message over its size limit for good, naming it, and keeps delivering the others', async () => {
      const { topic, group } = names();
      const { seen } = await collector(topic, { group, consumer: 'c1' });
      await settle();
      const big: BrokerMessage = { id: randomUUID(), key: `k-${uid()}`, value: 'x'.repeat(fixture!.maxMessageBytes + 1_024) };
      const refused = await broker.publish(topic, [big]).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(refused).toBeInstanceOf(UnpublishableMessageError);
      expect((refused as UnpublishableMessageError).ids).toEqual([big.id]);
      const [small] = makeMessages(1);
      await broker.publish(topic, [small!]);
      await waitFor('the small message', () => seen.length >= 1);
      await sleep(REDELIVER_MS);
      expect(seen).toEqual([small]);
    });

    it('reports handled messages through acknowledged() exactly when it is not durable', async () => {
      const { topic } = names();
      const a = await collector(topic, { group: `ga-${uid()}`, consumer: 'c1' });
      const b = await collector(topic, { group: `gb-${uid()}`, consumer: 'c1' });
      await settle();
      const sent = makeMessages(5);
      await broker.publish(topic, sent);
      await waitFor('both groups', () => a.seen.length >= 5 && b.seen.length >= 5);
      if (broker.durable) {
        expect(broker.acknowledged).toBeUndefined();
        return;
      }
      const acked = new Set<string>();
      await waitFor('the acknowledgements', () => {
        for (const { id } of broker.acknowledged!()) acked.add(id);
        return sent.every((m) => acked.has(m.id));
      });
    });

    it('close() stops every subscription, letting handlers in flight finish', async () => {
      const { topic, group } = names();
      const fresh = await makeBroker();
      try {
        let started = 0;
        let finished = 0;
        await fresh.broker.subscribe(topic, { group, consumer: 'c1', redeliverAfterMs: REDELIVER_MS }, async () => {
          started++;
          await sleep(30);
          finished++;
        });
        await settle();
        await fresh.broker.publish(topic, makeMessages(50));
        await waitFor('the first message', () => started >= 1);
        await fresh.broker.close();
        expect(finished).toBe(started); // waited for the one in flight
        await sleep(100);
        expect(started).toBe(finished); // and took nothing more
        expect(started).toBeLessThan(50);
      } finally {
        await fresh.cleanup();
      }
    });
  });
}
