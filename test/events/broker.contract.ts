import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe } from 'vitest';
import type { Broker, BrokerMessage, SubscribeOptions, Subscription } from '../../src/modules/events/broker.js';
import { lateBound } from '../support/late-bound.js';
import { describeDeliveryContract } from './contract/delivery.js';
import { describeFlowContract } from './contract/flow.js';
import { describeLagContract } from './contract/lag.js';
import { REDELIVER_MS, uid, type BrokerSuite } from './contract/support.js';

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

    const suite: BrokerSuite = {
      broker: lateBound(() => broker),
      fixture: () => fixture!,
      makeBroker,
      names,
      subscribe,
      collector,
      waitFor,
      settle,
    };
    describeDeliveryContract(suite);
    describeFlowContract(suite);
    describeLagContract(suite, waitMs);
  });
}
