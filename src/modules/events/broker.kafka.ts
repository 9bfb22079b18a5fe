import {
  Admin,
  Consumer,
  GenericError,
  type Message,
  MessagesStreamFallbackModes,
  MessagesStreamModes,
  ProduceAcks,
  Producer,
  stringDeserializers,
  stringSerializers,
} from '@platformatic/kafka';
import { settlesWithin, withTimeout } from '../../platform/timeout.js';
import {
  openSubscription,
  UnpublishableMessageError,
  type Broker,
  type BrokerMessage,
  type SubscribeOptions,
  type Subscription,
} from './broker.js';
import { kafkaConsumerLag } from './broker.kafka.lag.js';

/**
 * The broker on Apache Kafka through `@platformatic/kafka` 1.x (2.x needs Node 22). A thin
 * adapter: no Kafka broker runs on the development machine, so it is exercised only when
 * KAFKA_BROKERS is set (test/events/broker.kafka.test.ts runs the shared contract against it).
 *
 * - Publishing: one `send` per batch with acks = all (every in-sync replica), the message key as
 *   the Kafka key (so one aggregate's events stay in one partition, in order) and the event id in
 *   the `id` header. Topics are auto-created with the cluster's defaults: set the partition count
 *   there (`num.partitions`); members of a group share a topic by partitions. A send that Kafka
 *   refuses for good (MESSAGE_TOO_LARGE, INVALID_RECORD, CORRUPT_MESSAGE) is reported as
 *   `UnpublishableMessageError` when it held one message; for a larger batch Kafka does not say
 *   which message it was, so it is reported as a plain failure and the relay, finding the broker
 *   up, publishes the batch one message at a time to single it out.
 * - Consuming: one Kafka consumer per subscription, group = `options.group`, starting from the
 *   committed offset, or from the earliest one for a new group. Offsets are committed by hand,
 *   after the handler resolves, and only up to the first message of a partition still unfinished,
 *   so nothing unhandled is ever committed, whatever the concurrency.
 * - Redelivery: a handler that throws is retried in place after `redeliverAfterMs` (Kafka cannot
 *   skip one message of a partition; the partition waits). A consumer that dies leaves its
 *   uncommitted messages to the member that gets the partition after the rebalance.
 * - `close()` stops taking messages and waits up to `redeliverAfterMs` for handlers in flight,
 *   then leaves the group (so a hung handler cannot hold its partitions), then waits for the rest.
 * - Lag: for the groups this process consumes a topic with, the partitions' end offsets against
 *   the groups' committed offsets, read through an admin client when asked (broker.kafka.lag.ts).
 */
export interface KafkaBrokerOptions {
  brokers: string[];
  clientId?: string;
  /** Reports failures: `handler` (a handler threw; it is retried), commits, stream errors. */
  onError?: (err: unknown, where: string) => void;
}

const DEFAULT_REDELIVER_AFTER_MS = 5_000;
const ID_HEADER = 'id';
/** Kafka error codes that no retry can cure. */
const REFUSED_FOR_GOOD = ['MESSAGE_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE'];

function refusedForGood(err: unknown): string | undefined {
  if (!(err instanceof Error) || !GenericError.isGenericError(err)) return undefined;
  const findBy = (err as GenericError).findBy.bind(err) as (property: string, value: unknown) => unknown;
  return REFUSED_FOR_GOOD.find((id) => findBy('apiId', id) !== null);
}

type StringMessage = Message<string, string, string, string>;

/** The record's headers other than the event id, as the message's headers (none: no property). */
function headersOf(message: StringMessage): { headers?: Record<string, string> } {
  let headers: Record<string, string> | undefined;
  for (const [name, value] of message.headers) if (name !== ID_HEADER) (headers ??= {})[name] = value;
  return headers ? { headers } : {};
}

const defaultOnError = (err: unknown, where: string) => {
  if (where !== 'handler') console.error(`kafka broker: ${where}:`, err);
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function createKafkaBroker(opts: KafkaBrokerOptions): Broker {
  const clientId = opts.clientId ?? 'ticketing';
  const onError = opts.onError ?? defaultOnError;
  const producer = new Producer<string, string, string, string>({
    clientId: `${clientId}-producer`,
    bootstrapBrokers: opts.brokers,
    serializers: stringSerializers,
    acks: ProduceAcks.ALL,
    autocreateTopics: true,
  });
  const subscriptions = new Set<Subscription>();
  /** Per topic, the groups subscribed to it here, with how many subscriptions each. */
  const groupsOf = new Map<string, Map<string, number>>();
  let admin: Admin | undefined;
  let closed = false;

  function countGroup(topic: string, group: string, by: 1 | -1) {
    const groups = groupsOf.get(topic) ?? new Map<string, number>();
    const n = (groups.get(group) ?? 0) + by;
    if (n > 0) groups.set(group, n);
    else groups.delete(group);
    groupsOf.set(topic, groups);
  }

  async function subscribe(
    topic: string,
    options: SubscribeOptions,
    handler: (message: BrokerMessage) => Promise<void>,
  ): Promise<Subscription> {
    if (closed) throw new Error('kafka broker closed');
    const concurrency = Math.max(1, options.concurrency ?? 1);
    const redeliverAfterMs = options.redeliverAfterMs ?? DEFAULT_REDELIVER_AFTER_MS;

    const consumer = new Consumer<string, string, string, string>({
      clientId: `${clientId}-${options.consumer}`,
      groupId: options.group,
      bootstrapBrokers: opts.brokers,
      deserializers: stringDeserializers,
      autocommit: false,
      autocreateTopics: true,
    });
    const stream = await consumer.consume({
      topics: [topic],
      mode: MessagesStreamModes.COMMITTED,
      fallbackMode: MessagesStreamFallbackModes.EARLIEST,
      autocommit: false,
    });

    let stopping = false;
    const queue: StringMessage[] = [];
    const running = new Set<Promise<void>>();
    /** Per partition, messages taken and not yet committed, in offset order. */
    const uncommitted = new Map<number, { message: StringMessage; done: boolean }[]>();

    function commitDonePrefix(partition: number) {
      const list = uncommitted.get(partition);
      let last: StringMessage | undefined;
      while (list && list.length > 0 && list[0]!.done) last = list.shift()!.message;
      if (last) Promise.resolve(last.commit()).catch((err: unknown) => onError(err, 'commit'));
    }

    async function handle(message: StringMessage, slot: { message: StringMessage; done: boolean }) {
      const brokerMessage: BrokerMessage = {
        id: message.headers.get(ID_HEADER) ?? '',
        key: message.key,
        value: message.value,
        ...headersOf(message),
      };
      for (;;) {
        try {
          await handler(brokerMessage);
          break;
        } catch (err) {
          onError(err, 'handler');
          await sleep(redeliverAfterMs);
          if (stopping) return; // not committed: whoever gets the partition next handles it
        }
      }
      slot.done = true;
      commitDonePrefix(message.partition);
    }

    function drain() {
      while (!stopping && running.size < concurrency && queue.length > 0) {
        const message = queue.shift()!;
        const slot = { message, done: false };
        let list = uncommitted.get(message.partition);
        if (!list) uncommitted.set(message.partition, (list = []));
        list.push(slot);
        const run = handle(message, slot).finally(() => {
          running.delete(run);
          drain();
        });
        running.add(run);
      }
      if (stopping) return;
      if (running.size + queue.length >= concurrency) stream.pause();
      else stream.resume();
    }

    stream.on('data', (message) => {
      queue.push(message);
      drain();
    });
    stream.on('error', (err) => onError(err, 'stream'));
    countGroup(topic, options.group, 1);

    return openSubscription(subscriptions, async () => {
      stopping = true;
      countGroup(topic, options.group, -1);
      stream.pause();
      queue.length = 0;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...running]),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, redeliverAfterMs))),
      ]);
      clearTimeout(timer);
      await stream.close().catch((err: unknown) => onError(err, 'stream close'));
      await consumer.close().catch((err: unknown) => onError(err, 'consumer close'));
      await Promise.allSettled([...running]);
    });
  }

  return {
    kind: 'kafka',
    durable: true,

    async publish(topic, messages) {
      if (messages.length === 0) return;
      try {
        await producer.send({
          messages: messages.map((m) => ({ topic, key: m.key, value: m.value, headers: { ...m.headers, [ID_HEADER]: m.id } })),
          acks: ProduceAcks.ALL,
        });
      } catch (err) {
        const refused = refusedForGood(err);
        if (refused && messages.length === 1) throw new UnpublishableMessageError([messages[0]!.id], `kafka refused the message: ${refused}`);
        throw err;
      }
    },

    subscribe,

    // A scrape must not wait on a Kafka that does not answer: no reading within 2 s, no series.
    lag(topic) {
      admin ??= new Admin({ clientId: `${clientId}-admin`, bootstrapBrokers: opts.brokers });
      return withTimeout(kafkaConsumerLag(admin, topic, [...(groupsOf.get(topic)?.keys() ?? [])]), 2_000, 'kafka lag: no answer within 2 s');
    },

    ping: () => settlesWithin(producer.metadata({ topics: [], forceUpdate: true }), 2_000),

    async close() {
      closed = true;
      await Promise.all([...subscriptions].map((s) => s.close()));
      await producer.close();
      await admin?.close();
    },
  };
}
