import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import type { BrokerMessage } from '../../../src/modules/events/broker.js';
import { type BrokerSuite, makeMessages, REDELIVER_MS, uid } from './support.js';

/** Who gets what: once and in order, every group, shared groups, redelivery, handover, late groups, resuming. */
export function describeDeliveryContract(suite: BrokerSuite) {
  const { broker, names, subscribe, collector, waitFor, settle } = suite;

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
}
