import { randomUUID } from 'node:crypto';
import type { Broker, BrokerMessage, SubscribeOptions, Subscription } from '../../../src/modules/events/broker.js';
import type { BrokerFixture } from '../broker.contract.js';

/** Short enough to keep the suite fast, long enough to tell "redelivered" from "handled twice". */
export const REDELIVER_MS = 200;

export const uid = () => randomUUID().slice(0, 8);

export function makeMessages(n: number, key: (i: number) => string = () => `k-${uid()}`): BrokerMessage[] {
  return Array.from({ length: n }, (_, i) => ({ id: randomUUID(), key: key(i), value: JSON.stringify({ i, at: 'x' }) }));
}

export const seqOf = (m: BrokerMessage) => (JSON.parse(m.value) as { i: number }).i;

/** What the parts of the contract share: the broker under test (made in the suite's beforeAll) and the suite's helpers. */
export interface BrokerSuite {
  broker: Broker;
  fixture(): BrokerFixture;
  makeBroker(): Promise<BrokerFixture>;
  names(): { topic: string; group: string };
  subscribe(topic: string, opts: SubscribeOptions, handler: (m: BrokerMessage) => Promise<void>): Promise<Subscription>;
  collector(topic: string, opts: SubscribeOptions, delayMs?: number): Promise<{ seen: BrokerMessage[]; sub: Subscription }>;
  waitFor(what: string, predicate: () => boolean): Promise<void>;
  settle(): Promise<unknown>;
}
