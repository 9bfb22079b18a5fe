import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { Acknowledgement, BrokerMessage } from '../../src/modules/events/broker.js';
import { createMemoryBroker } from '../../src/modules/events/broker.memory.js';
import { describeBrokerContract } from './broker.contract.js';

describeBrokerContract('in-process broker', async () => {
  const broker = createMemoryBroker({ maxMessageBytes: 4_096 });
  return { broker, maxMessageBytes: 4_096, cleanup: () => broker.close() };
});

const message = (): BrokerMessage => ({ id: randomUUID(), key: 'k', value: '{}' });

describe('in-process broker: failure injection', () => {
  it('setAvailable(false) fails publishes and ping and pauses delivery until recovery', async () => {
    const broker = createMemoryBroker();
    const seen: BrokerMessage[] = [];
    await broker.subscribe('t', { group: 'g', consumer: 'c' }, async (m) => {
      seen.push(m);
    });
    await broker.publish('t', [message()]);
    await sleep(10);
    expect(seen).toHaveLength(1);

    broker.setAvailable(false);
    expect(await broker.ping()).toBe(false);
    await expect(broker.publish('t', [message()])).rejects.toThrow(/unavailable/);

    broker.setAvailable(true);
    expect(await broker.ping()).toBe(true);
    const later = message();
    await broker.publish('t', [later]);
    await sleep(10);
    expect(seen.map((m) => m.id)).toEqual([seen[0]!.id, later.id]); // the rejected one never went in
    await broker.close();
  });

  it('failPublish rejects the chosen publishes only, appending nothing', async () => {
    let fail = true;
    const broker = createMemoryBroker({ failPublish: () => fail });
    const seen: BrokerMessage[] = [];
    await broker.subscribe('t', { group: 'g', consumer: 'c' }, async (m) => {
      seen.push(m);
    });
    await expect(broker.publish('t', [message()])).rejects.toThrow(/injected/);
    fail = false;
    const ok = message();
    await broker.publish('t', [ok]);
    await sleep(10);
    expect(seen).toEqual([ok]);
    await broker.close();
  });

  it('rejects publish and subscribe after close', async () => {
    const broker = createMemoryBroker();
    await broker.close();
    await expect(broker.publish('t', [message()])).rejects.toThrow(/closed/);
    await expect(broker.subscribe('t', { group: 'g', consumer: 'c' }, async () => {})).rejects.toThrow(/closed/);
  });
});

describe('in-process broker: delivery counted per group, bounded memory', () => {
  const messages = (n: number) => Array.from({ length: n }, () => message());

  it('acknowledges a message only once every group has handled it', async () => {
    const broker = createMemoryBroker();
    let slowOpen = false;
    const fast: string[] = [];
    await broker.subscribe('t', { group: 'fast', consumer: 'c' }, async (m) => {
      fast.push(m.id);
    });
    await broker.subscribe('t', { group: 'slow', consumer: 'c', redeliverAfterMs: 20 }, async () => {
      if (!slowOpen) throw new Error('not yet');
    });
    const sent = messages(3);
    await broker.publish('t', sent);
    await sleep(50);
    expect(fast).toHaveLength(3);
    expect(broker.acknowledged()).toEqual([]); // the slow group has not handled them
    slowOpen = true;
    const acked: Acknowledgement[] = [];
    const deadline = Date.now() + 5_000;
    while (acked.length < 3 && Date.now() < deadline) {
      acked.push(...broker.acknowledged());
      await sleep(10);
    }
    expect(acked).toEqual(sent.map((m) => ({ id: m.id, missed: [] })));
    expect(broker.acknowledged()).toEqual([]); // each id once
    await broker.close();
  });

  it('acknowledges nothing while no group exists, and keeps it for the first group', async () => {
    const broker = createMemoryBroker();
    const sent = messages(2);
    await broker.publish('t', sent);
    await sleep(10);
    expect(broker.acknowledged()).toEqual([]);
    const seen: string[] = [];
    await broker.subscribe('t', { group: 'g', consumer: 'c' }, async (m) => {
      seen.push(m.id);
    });
    await sleep(20);
    expect(seen).toEqual(sent.map((m) => m.id));
    expect(broker.acknowledged()).toEqual(sent.map((m) => ({ id: m.id, missed: [] })));
    await broker.close();
  });

  it('a group past its bound misses further messages while the other groups take them at once', async () => {
    const broker = createMemoryBroker({ maxBacklog: 5 });
    let down = true;
    const handled: string[] = [];
    const fast: string[] = [];
    await broker.subscribe('t', { group: 'platform', consumer: 'c', redeliverAfterMs: 20 }, async (m) => {
      if (down) throw new Error('platform down');
      handled.push(m.id);
    });
    await broker.subscribe('t', { group: 'rankings', consumer: 'c' }, async (m) => {
      fast.push(m.id);
    });
    const first = messages(5);
    const later = messages(20);
    await broker.publish('t', first);
    await sleep(10);
    for (const m of later) {
      await broker.publish('t', [m]); // not refused: the platform group just misses it
      await sleep(2);
    }
    expect(await broker.ping()).toBe(true);
    const deadline = Date.now() + 5_000;
    while (fast.length < 25 && Date.now() < deadline) await sleep(10);
    expect(fast).toEqual([...first, ...later].map((m) => m.id)); // the healthy group got everything, in order
    expect(broker.stats().groups).toEqual({ platform: 5, rankings: 0 });
    expect(broker.stats().retained).toBe(5);
    expect(broker.room('t')).toEqual([
      { group: 'platform', room: 0 },
      { group: 'rankings', room: 5 },
    ]);
    const acks = broker.acknowledged();
    expect(acks).toEqual(later.map((m) => ({ id: m.id, missed: ['platform'] }))); // the first five still wait

    down = false;
    while (handled.length < 5 && Date.now() < deadline) await sleep(10);
    await sleep(10);
    expect(broker.acknowledged()).toEqual(first.map((m) => ({ id: m.id, missed: [] })));
    // A targeted publish goes to the named group alone.
    await broker.publish('t', later, { groups: ['platform'] });
    while (handled.length < 25 && Date.now() < deadline) await sleep(10);
    expect(handled).toEqual([...first, ...later].map((m) => m.id));
    expect(fast).toHaveLength(25);
    await sleep(10);
    expect(broker.acknowledged()).toEqual(later.map((m) => ({ id: m.id, missed: [] })));
    expect(broker.stats().retained).toBe(0);
    await broker.close();
  });

  it('reports every acknowledgement, however many wait to be collected', async () => {
    const broker = createMemoryBroker({ maxBacklog: 2 });
    await broker.subscribe('t', { group: 'g', consumer: 'c' }, async () => {});
    const sent: string[] = [];
    let refused: unknown;
    for (let i = 0; i < 100 && !refused; i++) {
      const batch = messages(2);
      refused = await broker.publish('t', batch).then(
        () => void sent.push(...batch.map((m) => m.id)),
        (err: unknown) => err,
      );
      await sleep(2);
    }
    await sleep(20);
    // Past maxBacklog × 10 handled and not collected: none dropped, and publish waits for the relay.
    expect(String(refused)).toMatch(/not collected/);
    expect(sent.length).toBeGreaterThan(20);
    expect(broker.acknowledged().map((a) => a.id)).toEqual(sent);
    await broker.publish('t', messages(1));
    await broker.close();
  });

  it('keeps memory bounded: handled messages are trimmed from the log', async () => {
    const broker = createMemoryBroker();
    let handled = 0;
    await broker.subscribe('t', { group: 'a', consumer: 'c', concurrency: 16 }, async () => {
      handled++;
    });
    await broker.subscribe('t', { group: 'b', consumer: 'c', concurrency: 16 }, async () => {});
    for (let i = 0; i < 20; i++) {
      await broker.publish('t', messages(500));
      await sleep(5);
    }
    const deadline = Date.now() + 10_000;
    while ((handled < 10_000 || broker.stats().unacknowledged > 0) && Date.now() < deadline) await sleep(10);
    expect(broker.stats().unacknowledged).toBe(0);
    expect(broker.stats().retained).toBeLessThan(1_100); // trimmed in chunks, never the 10,000
    expect(broker.acknowledged()).toHaveLength(10_000);
    await broker.close();
  });

  it('refuses a batch holding an oversized message whole, appending nothing', async () => {
    const broker = createMemoryBroker({ maxMessageBytes: 1_024 });
    const seen: string[] = [];
    await broker.subscribe('t', { group: 'g', consumer: 'c' }, async (m) => {
      seen.push(m.id);
    });
    const big = { id: randomUUID(), key: 'k', value: 'x'.repeat(2_000) };
    await expect(broker.publish('t', [message(), big, message()])).rejects.toMatchObject({ name: 'UnpublishableMessageError', ids: [big.id] });
    await sleep(20);
    expect(seen).toEqual([]);
    expect(broker.stats().retained).toBe(0);
    await broker.close();
  });
});
