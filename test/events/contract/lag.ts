import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { type BrokerSuite, makeMessages } from './support.js';

/** The consumer-lag reading behind the `event_consumer_lag_events` gauge. */
export function describeLagContract(suite: BrokerSuite, waitMs: number) {
  const { broker, names, subscribe, collector, waitFor, settle } = suite;

  async function lagReaches(topic: string, group: string, want: number) {
    const deadline = Date.now() + waitMs;
    let last: number | undefined;
    while (Date.now() <= deadline) {
      last = (await broker.lag!(topic)).find((l) => l.group === group)?.lag;
      if (last === want) return;
      await sleep(50);
    }
    throw new Error(`lag of ${group}: ${last}, waited for ${want}`);
  }

  it("reports a group's lag: the messages it has not handled, then 0 once it has; a group that keeps up reads 0", async () => {
    expect(broker.lag).toBeDefined();
    const { topic, group: stuck } = names();
    const quick = `${stuck}-quick`;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let handled = 0;
    await subscribe(topic, { group: stuck, consumer: 'c1', concurrency: 1 }, async () => {
      await gate;
      handled++;
    });
    const { seen } = await collector(topic, { group: quick, consumer: 'c1' });
    await settle();
    await broker.publish(topic, makeMessages(5, () => 'one-key'));

    await lagReaches(topic, stuck, 5);
    await waitFor('the quick group to handle all 5', () => seen.length === 5);
    await lagReaches(topic, quick, 0);

    release();
    await lagReaches(topic, stuck, 0);
    expect(handled).toBe(5);
  });
}
