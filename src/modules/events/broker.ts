/**
 * The message broker port: the outbox relay publishes to it, consumers read from it. Three
 * adapters keep the same contract (test/events/broker.contract.ts): in-process (the embedded
 * default), Redis Streams (REDIS_URL) and Kafka (KAFKA_BROKERS).
 *
 * Delivery is at least once: a message is handed to a consumer group's handler until the handler
 * resolves (then it is acknowledged); a handler that throws, or a consumer that dies, leaves the
 * message to be delivered again (to the same or another member of the group). Order is kept per
 * key within a topic in normal operation (Kafka partitions by key; the other adapters keep one
 * ordered log per topic).
 *
 * Failures of `publish` come in two kinds. An `UnpublishableMessageError` names messages the broker
 * will never accept (larger than its limit, a record it calls invalid): retrying them is pointless,
 * and the relay parks them for an operator. Anything else (broker down, timeout, connection lost)
 * is transient: the relay retries it for as long as it takes.
 */
export interface BrokerMessage {
  /** The event id: consumers deduplicate on it. */
  id: string;
  /** Partitioning key (the aggregate id). */
  key: string;
  /** The event as JSON text. */
  value: string;
  /**
   * Metadata beside the event, delivered with it as published: `traceparent` (W3C) when the event
   * was written by a traced request. Kafka record headers; fields of the Redis stream entry.
   */
  headers?: Record<string, string>;
}

export interface SubscribeOptions {
  /** Consumer group: each message is handled by one member of each group. */
  group: string;
  /** This member's name within the group (unique per process). */
  consumer: string;
  /** At most this many messages handled at once by this member (default 1: in order). */
  concurrency?: number;
  /** Redelivery of a message whose handler failed or whose consumer died, after about this long (default 5 s). */
  redeliverAfterMs?: number;
}

export interface Subscription {
  /** Stops taking new messages and waits for handlers in flight. */
  close(): Promise<void>;
}

/**
 * A subscription whose `close()` runs `stop` once (every call answers the same promise) and, once
 * it has, leaves `open`: the set an adapter closes what is still subscribed from when it closes.
 */
export function openSubscription(open: Set<Subscription>, stop: () => Promise<void>): Subscription {
  let closing: Promise<void> | undefined;
  const subscription: Subscription = {
    close() {
      closing ??= (async () => {
        await stop();
        open.delete(subscription);
      })();
      return closing;
    },
  };
  open.add(subscription);
  return subscription;
}

/**
 * A publish the broker refused for good: `ids` are the refused messages. Nothing of the batch was
 * appended (the in-process and Redis adapters check every message first); Kafka may have taken
 * other messages of the batch, which the relay then publishes again (consumers deduplicate).
 */
export class UnpublishableMessageError extends Error {
  constructor(
    readonly ids: string[],
    message: string,
  ) {
    super(message);
    this.name = 'UnpublishableMessageError';
  }
}

/**
 * A publish refused because the topic's epoch marker is not the one the publisher named: the
 * broker lost the topic (or it was replaced) since the publisher last looked. Nothing of the batch
 * was appended; the relay looks for the loss before it publishes again.
 */
export class EpochChangedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EpochChangedError';
  }
}

/** Message ids of the form `<ms>-<seq>` (Redis stream ids, `Broker.lastId`) compared as (milliseconds, sequence). */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  if (am !== bm) return am < bm ? -1 : 1;
  return as === bs ? 0 : as < bs ? -1 : 1;
}

/** Size of a message as brokers count it (id, key, value and headers, UTF-8). */
export function messageBytes(m: BrokerMessage): number {
  let bytes = Buffer.byteLength(m.id) + Buffer.byteLength(m.key) + Buffer.byteLength(m.value);
  if (m.headers) for (const [name, value] of Object.entries(m.headers)) bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
  return bytes;
}

/** Refuses, before anything is appended, every message over `maxBytes`. */
export function refuseOversized(messages: BrokerMessage[], maxBytes: number, broker: string): void {
  const tooLarge = messages.filter((m) => messageBytes(m) > maxBytes);
  if (tooLarge.length === 0) return;
  throw new UnpublishableMessageError(
    tooLarge.map((m) => m.id),
    `${broker}: ${tooLarge.length} message(s) larger than the ${maxBytes}-byte limit`,
  );
}

/** The limit the in-process and Redis adapters apply (Kafka's default `message.max.bytes` is about the same). */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_576;

/**
 * What a non-durable broker reports once every consumer group that took a message has handled it:
 * its id, and the groups that did not take it (their queue was full, or a targeted publish named
 * them and they were full). Those groups still need the message: the relay records them and
 * publishes it again to them alone (`publish(…, { groups })`) once they have room.
 */
export interface Acknowledgement {
  id: string;
  missed: string[];
}

export interface Broker {
  readonly kind: 'memory' | 'redis' | 'kafka';
  /**
   * True when a published message survives this process ending (Redis, Kafka). False for the
   * in-process broker: there a message counts as delivered only once every consumer group has
   * handled it, which `acknowledged()` reports; until then the outbox row stays unsent.
   */
  readonly durable: boolean;
  /**
   * Non-durable brokers: the messages every consumer group that took them has handled since the
   * last call (each once, none ever dropped), with the groups that did not take them. Durable
   * brokers do not implement it.
   */
  acknowledged?(): Acknowledgement[];
  /**
   * Non-durable brokers: each consumer group of the topic with how many more messages it can take
   * now. Durable brokers do not implement it.
   */
  room?(topic: string): Array<{ group: string; room: number }>;
  /**
   * Each consumer group of the topic with the messages it has not handled yet: queued for it, or
   * delivered and not acknowledged (for the consumer-lag gauge). In process and on Redis, every
   * group of the topic; on Kafka, the groups this process consumes the topic with, each the sum
   * over partitions of the end offset minus the group's committed offset.
   */
  lag?(topic: string): Promise<Array<{ group: string; lag: number }>>;
  /**
   * Resolves only once the broker has durably accepted every message (an ack). Rejects with
   * `UnpublishableMessageError` for messages it will never accept, with any other error when it
   * cannot take them now. Non-durable brokers also take `{ groups }`: the messages go to those
   * consumer groups only (a group not known is reported as missed). Brokers with `epoch` also take
   * `{ epoch }`: the messages are appended only if the topic's marker is that epoch, else the
   * publish rejects with `EpochChangedError` and appends nothing.
   */
  publish(topic: string, messages: BrokerMessage[], options?: { groups?: string[]; epoch?: string }): Promise<void>;
  subscribe(topic: string, options: SubscribeOptions, handler: (message: BrokerMessage) => Promise<void>): Promise<Subscription>;
  /**
   * Durable brokers that can lose what they accepted (Redis restarted empty): the topic's epoch, a
   * marker kept beside the topic that a loss takes with it (null when missing). A changed or
   * missing epoch tells the relay to publish again what consumers may not have handled
   * (outbox.loss.ts), which then sets a new one (`setEpoch`).
   */
  epoch?(topic: string): Promise<string | null>;
  /** With `epoch`: sets the marker to `to` if it is still `from` (null: missing); true if it did. */
  setEpoch?(topic: string, from: string | null, to: string): Promise<boolean>;
  /**
   * With `epoch`: the id of the last message ever appended to the topic (null without one), as
   * `<ms>-<seq>`; it only grows while the broker keeps its data, so one below an id seen before
   * shows entries lost under the same epoch (a Redis restored from a snapshot).
   */
  lastId?(topic: string): Promise<string | null>;
  /**
   * With `epoch`: a time (the broker's clock) before which every consumer group of the topic has
   * handled every message, or null when unknown (the topic has no group, or no stream).
   */
  handledBefore?(topic: string): Promise<Date | null>;
  /** True when the broker answers (for /health/ready). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
