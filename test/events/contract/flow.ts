import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { UnpublishableMessageError, type BrokerMessage } from '../../../src/modules/events/broker.js';
import { type BrokerSuite, makeMessages, REDELIVER_MS, seqOf, uid } from './support.js';

/** How it flows: order per key, concurrency, large batches, refused messages, acknowledgements, close. */
export function describeFlowContract(suite: BrokerSuite) {
  const { broker, fixture, makeBroker, names, subscribe, collector, waitFor, settle } = suite;

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

  it('delivers the headers of a message as published, and none to a message published without', async () => {
    const { topic, group } = names();
    const { seen } = await collector(topic, { group, consumer: 'c1' });
    await settle();
    const [plain, traced] = makeMessages(2, () => `k-${uid()}`);
    const headers = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', other: 'x y' };
    await broker.publish(topic, [plain!, { ...traced!, headers }]);
    await waitFor('both messages', () => seen.length >= 2);
    expect(seen.find((m) => m.id === plain!.id)).toEqual(plain);
    expect(seen.find((m) => m.id === traced!.id)).toEqual({ ...traced, headers });
  });

  it('refuses a message over its size limit for good, naming it, and keeps delivering the others', async () => {
    const { topic, group } = names();
    const { seen } = await collector(topic, { group, consumer: 'c1' });
    await settle();
    const big: BrokerMessage = { id: randomUUID(), key: `k-${uid()}`, value: 'x'.repeat(fixture().maxMessageBytes + 1_024) };
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
}
