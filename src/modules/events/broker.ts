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
 */
export interface BrokerMessage {
  /** The event id: consumers deduplicate on it. */
  id: string;
  /** Partitioning key (the aggregate id). */
  key: string;
  /** The event as JSON text. */
  value: string;
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

export interface Broker {
  readonly kind: 'memory' | 'redis' | 'kafka';
  /** Resolves only once the broker has durably accepted every message (an ack). */
  publish(topic: string, messages: BrokerMessage[]): Promise<void>;
  subscribe(topic: string, options: SubscribeOptions, handler: (message: BrokerMessage) => Promise<void>): Promise<Subscription>;
  /** True when the broker answers (for /health/ready). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
