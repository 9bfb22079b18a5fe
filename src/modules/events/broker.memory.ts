import {
  DEFAULT_MAX_MESSAGE_BYTES,
  type Acknowledgement,
  openSubscription,
  refuseOversized,
  type Broker,
  type BrokerMessage,
  type SubscribeOptions,
  type Subscription,
} from './broker.js';
import { createGroupDelivery, heldBy, type Entry, type Group, type Topic } from './broker.memory.group.js';

/**
 * The in-process broker (the embedded default). Each consumer group of a topic has a queue of its
 * own, bounded, so a group that stops handling messages (its endpoint is down) delays only its own
 * deliveries: the other groups keep receiving new messages at once.
 *
 * Delivery, per group, follows the Redis Streams adapter so both pass one contract: see
 * broker.memory.group.ts.
 *
 * Bounded memory: a group holds at most `maxBacklog` messages it has not handled (queued or
 * pending; one batch more when it held none). A message that would go past a group's bound is not
 * kept for that group; the others take it. The broker holds a message only while some group still
 * needs it, so it never holds more than `maxBacklog` per group.
 *
 * Nothing survives the process (`durable: false`): once every group that took a message has
 * handled it, `acknowledged()` reports it together with the groups that did not take it (`missed`).
 * The relay counts the outbox row as delivered only when none missed it; otherwise it records the
 * missing groups in the row and publishes it again to them alone (`publish(…, { groups })`) once
 * `room()` says they can take it. So the outbox stays the durable log: a restart publishes again
 * every row some group still needs. Acknowledgements are never dropped: while more than
 * `maxBacklog × 10` wait to be collected, publish is refused (a transient failure; the relay
 * collects them at the start of every pass). A message over `maxMessageBytes` is refused for good.
 *
 * Failure injection for outage tests: `setAvailable(false)` makes `publish` reject and `ping`
 * answer false, and pauses deliveries (handlers already running finish); `setAvailable(true)`
 * resumes them. `failPublish(topic, messages)` in the options rejects chosen publishes only.
 */
export interface MemoryBroker extends Broker {
  readonly kind: 'memory';
  acknowledged(): Acknowledgement[];
  room(topic: string): Array<{ group: string; room: number }>;
  /** Simulates an outage (false) and the recovery (true). */
  setAvailable(available: boolean): void;
  /**
   * What the broker holds: messages kept in memory, those some group has not handled yet (the
   * same number), and per group the messages it holds (queued or pending).
   */
  stats(): { retained: number; unacknowledged: number; groups: Record<string, number> };
}

export interface MemoryBrokerOptions {
  /** Return true to make this publish reject without appending anything (test hook). */
  failPublish?: (topic: string, messages: BrokerMessage[]) => boolean;
  /** Messages larger than this are refused with UnpublishableMessageError (default 1 MiB). */
  maxMessageBytes?: number;
  /**
   * Messages a group holds without having handled them, at most (default 10,000); a group that
   * is full misses further messages until it has room (the relay sends them again). A batch is
   * always taken by a group that holds nothing, so the bound is this or one batch, the larger.
   * It also bounds what the topic keeps while no group exists yet (publishes beyond wait).
   */
  maxBacklog?: number;
}

const DEFAULT_MAX_BACKLOG = 10_000;

/** What the broker keeps of a published message: a copy, as a broker that serialises it would. */
const copyOf = (m: BrokerMessage): BrokerMessage => ({ id: m.id, key: m.key, value: m.value, ...(m.headers ? { headers: { ...m.headers } } : {}) });

export function createMemoryBroker(options: MemoryBrokerOptions = {}): MemoryBroker {
  const topics = new Map<string, Topic>();
  const subscriptions = new Set<Subscription>();
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const maxBacklog = options.maxBacklog ?? DEFAULT_MAX_BACKLOG;
  /** Acknowledgements not collected yet: never dropped (publish waits while too many are here). */
  let acknowledgements: Acknowledgement[] = [];
  let available = true;
  let closed = false;

  const topicOf = (name: string): Topic => {
    let topic = topics.get(name);
    if (!topic) {
      topic = { entries: new Map(), nextOffset: 0, groups: new Map() };
      topics.set(name, topic);
    }
    return topic;
  };

  /** One group fewer needs the entry; once none does, it is reported and forgotten. */
  function release(topic: Topic, entry: Entry) {
    entry.holders--;
    if (entry.holders > 0) return;
    topic.entries.delete(entry.offset);
    acknowledgements.push({ id: entry.message.id, missed: entry.missed });
  }

  const delivery = createGroupDelivery({ delivering: () => available && !closed, release });

  const broker: MemoryBroker = {
    kind: 'memory',
    durable: false,

    acknowledged() {
      const taken = acknowledgements;
      acknowledgements = [];
      return taken;
    },

    room(topicName) {
      const topic = topics.get(topicName);
      if (!topic) return [];
      return [...topic.groups.values()].map((g) => ({ group: g.name, room: Math.max(0, maxBacklog - heldBy(g)) }));
    },

    async lag(topicName) {
      const topic = topics.get(topicName);
      return topic ? [...topic.groups.values()].map((g) => ({ group: g.name, lag: heldBy(g) })) : [];
    },

    stats() {
      let retained = 0;
      const groups: Record<string, number> = {};
      for (const topic of topics.values()) {
        retained += topic.entries.size;
        for (const g of topic.groups.values()) groups[g.name] = (groups[g.name] ?? 0) + heldBy(g);
      }
      return { retained, unacknowledged: retained, groups };
    },

    setAvailable(value: boolean) {
      available = value;
      if (available) for (const topic of topics.values()) for (const group of topic.groups.values()) delivery.pump(topic, group);
    },

    async publish(topicName, messages, publishOptions = {}) {
      if (closed) throw new Error('memory broker closed');
      if (!available) throw new Error('memory broker unavailable');
      if (options.failPublish?.(topicName, messages)) throw new Error('memory broker publish failed (injected)');
      refuseOversized(messages, maxMessageBytes, 'memory broker');
      if (messages.length === 0) return;
      if (acknowledgements.length > maxBacklog * 10) {
        throw new Error(`memory broker: ${acknowledgements.length} acknowledgements not collected yet; publishes wait until they are`);
      }
      const topic = topicOf(topicName);
      const targets = publishOptions.groups;
      if (topic.groups.size === 0 && !targets) {
        // Kept for the groups to come, bounded like a group's queue.
        if (topic.entries.size > 0 && topic.entries.size + messages.length > maxBacklog) {
          throw new Error(`memory broker: ${topic.entries.size} messages wait for a consumer group (limit ${maxBacklog})`);
        }
        for (const m of messages) {
          const offset = topic.nextOffset++;
          topic.entries.set(offset, { offset, message: copyOf(m), holders: 0, missed: [] });
        }
        return;
      }
      const groups = targets ? targets.map((name) => topic.groups.get(name) ?? name) : [...topic.groups.values()];
      const emptyAtStart = new Set(groups.filter((g): g is Group => typeof g !== 'string' && heldBy(g) === 0));
      for (const m of messages) {
        const offset = topic.nextOffset++;
        const entry: Entry = { offset, message: copyOf(m), holders: 0, missed: [] };
        for (const g of groups) {
          if (typeof g === 'string') entry.missed.push(g);
          else if (emptyAtStart.has(g) || heldBy(g) < maxBacklog) {
            g.queue.push(entry);
            entry.holders++;
          } else entry.missed.push(g.name);
        }
        if (entry.holders > 0) topic.entries.set(offset, entry);
        else acknowledgements.push({ id: entry.message.id, missed: entry.missed });
      }
      // Deliver after the publisher has its answer, never inside its call.
      queueMicrotask(() => topic.groups.forEach((group) => delivery.pump(topic, group)));
    },

    async subscribe(topicName: string, opts: SubscribeOptions, handler: (message: BrokerMessage) => Promise<void>) {
      if (closed) throw new Error('memory broker closed');
      const member = delivery.join(topicOf(topicName), opts, handler);
      return openSubscription(subscriptions, async () => {
        delivery.leave(member);
        await Promise.allSettled([...member.running.values()]);
      });
    },

    /** False while unavailable, and while a topic without groups has its waiting room full. */
    async ping() {
      if (!available || closed) return false;
      for (const topic of topics.values()) if (topic.groups.size === 0 && topic.entries.size >= maxBacklog) return false;
      return true;
    },

    async close() {
      await Promise.all([...subscriptions].map((s) => s.close()));
      closed = true;
      for (const topic of topics.values()) {
        for (const group of topic.groups.values()) if (group.timer) clearTimeout(group.timer);
      }
    },
  };
  return broker;
}
