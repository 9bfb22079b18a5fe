import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { BrokerMessage } from '../../src/modules/events/broker.js';
import { createMemoryBroker } from '../../src/modules/events/broker.memory.js';
import { describeBrokerContract } from './broker.contract.js';

describeBrokerContract('in-process broker', async () => {
  const broker = createMemoryBroker();
  return { broker, cleanup: () => broker.close() };
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
