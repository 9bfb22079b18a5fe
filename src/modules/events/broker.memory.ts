import {
  DEFAULT_MAX_MESSAGE_BYTES,
  refuseOversized,
  type Broker,
  type BrokerMessage,
  type SubscribeOptions,
  type Subscription,
} from './broker.js';

/**
 * The in-process broker (the embedded default): one append-only log per topic and, per consumer
 * group, the next offset to hand out plus the pending (delivered, unacknowledged) entries.
 *
 * Delivery follows the Redis Streams adapter so both pass one contract:
 * - A member takes redeliverable pending entries first (lowest offset first), then new offsets in
 *   log order. A new group starts at the oldest offset still kept, so it sees everything published
 *   before it joined as long as no group has handled it yet (the log is kept whole while no group
 *   exists).
 * - A handler that resolves acknowledges its entry (removed from pending). One that throws leaves
 *   the entry pending, visible again `redeliverAfterMs` later to any member of the group.
 * - An entry whose handler is still running under an open member is never redelivered (Redis keeps
 *   such entries fresh the same way). When a member closes, its still-running entries become
 *   visible `redeliverAfterMs` later, as a dead consumer's would: a hung handler cannot hold them.
 * - The group's committed offset is the lowest pending offset (or the next offset when none is
 *   pending); nothing below it is ever delivered again.
 *
 * Nothing survives the process (`durable: false`): a message counts as delivered only once every
 * consumer group of its topic has handled it, and `acknowledged()` hands the relay those ids, so
 * the outbox keeps every row some group still needs and a restart publishes it again. Memory stays
 * bounded: the log is trimmed below the lowest committed offset of all groups, and a publish that
 * would leave more than `maxBacklog` messages unhandled by some group is refused (a transient
 * failure: the rows wait in the outbox; `ping` answers false while a backlog is full, so the relay
 * waits and probes rather than retrying every row). A message over `maxMessageBytes` is refused for good.
 *
 * Failure injection for outage tests: `setAvailable(false)` makes `publish` reject and `ping`
 * answer false, and pauses deliveries (handlers already running finish); `setAvailable(true)`
 * resumes them. `failPublish(topic, messages)` in the options rejects chosen publishes only.
 */
export interface MemoryBroker extends Broker {
  readonly kind: 'memory';
  acknowledged(): string[];
  /** Simulates an outage (false) and the recovery (true). */
  setAvailable(available: boolean): void;
  /** What the broker holds: messages kept in memory, and those some group has not handled yet. */
  stats(): { retained: number; unacknowledged: number };
}

export interface MemoryBrokerOptions {
  /** Return true to make this publish reject without appending anything (test hook). */
  failPublish?: (topic: string, messages: BrokerMessage[]) => boolean;
  /** Messages larger than this are refused with UnpublishableMessageError (default 1 MiB). */
  maxMessageBytes?: number;
  /**
   * Messages some group has not handled yet, at most (default 10,000); publishes beyond wait. A
   * batch is always taken when nothing is waiting, so the bound is this or one batch, the larger.
   */
  maxBacklog?: number;
}

const DEFAULT_MAX_BACKLOG = 10_000;

const DEFAULT_REDELIVER_AFTER_MS = 5_000;

interface Pending {
  offset: number;
  /** The member whose handler is running, or null once the handler failed or its member closed. */
  runningIn: Member | null;
  /** When the entry may be delivered again (meaningful when runningIn is null). */
  visibleAt: number;
}

interface Group {
  next: number;
  pending: Map<number, Pending>;
  /**
   * The committed offset: the lowest pending offset, or `next` when none is pending. Only an
   * acknowledgement moves it (taking a new offset leaves it pending where the committed one was).
   */
  committed: number;
  members: Member[];
  timer: NodeJS.Timeout | undefined;
  timerAt: number;
}

interface Topic {
  /** The kept part of the log: the message at offset o is log[o - base]. */
  log: BrokerMessage[];
  base: number;
  /** Every offset below this has been handled by every group (and reported as acknowledged). */
  ackedUpTo: number;
  groups: Map<string, Group>;
}

const endOf = (topic: Topic) => topic.base + topic.log.length;

function committedOf(group: Group): number {
  let low = group.next;
  for (const offset of group.pending.keys()) if (offset < low) low = offset;
  return low;
}

/** The lowest committed offset of all groups (undefined while the topic has none). */
function lowestCommitted(topic: Topic): number | undefined {
  let low: number | undefined;
  for (const group of topic.groups.values()) if (low === undefined || group.committed < low) low = group.committed;
  return low;
}

interface Member {
  topic: Topic;
  group: Group;
  concurrency: number;
  redeliverAfterMs: number;
  handler: (message: BrokerMessage) => Promise<void>;
  running: Map<number, Promise<void>>;
  closed: boolean;
}

export function createMemoryBroker(options: MemoryBrokerOptions = {}): MemoryBroker {
  const topics = new Map<string, Topic>();
  const subscriptions = new Set<Subscription>();
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const maxBacklog = options.maxBacklog ?? DEFAULT_MAX_BACKLOG;
  /** Ids every group has handled, not yet taken by acknowledged() (bounded: an unread id is only republished later). */
  let acknowledgedIds: string[] = [];
  let available = true;
  let closed = false;

  const topicOf = (name: string): Topic => {
    let topic = topics.get(name);
    if (!topic) {
      topic = { log: [], base: 0, ackedUpTo: 0, groups: new Map() };
      topics.set(name, topic);
    }
    return topic;
  };

  /** Wakes every member of the group, in turn, until none can take more. */
  function pumpGroup(topic: Topic, group: Group) {
    if (!available || closed) return;
    let progress = true;
    while (progress) {
      progress = false;
      // One message per member per round, so members of a group share a burst.
      for (const member of group.members) if (take(member)) progress = true;
    }
    scheduleWake(topic, group);
  }

  /** Hands the member one message if it has a free slot and one is available. */
  function take(member: Member): boolean {
    const { topic, group } = member;
    if (member.closed || member.running.size >= member.concurrency) return false;
    const now = Date.now();
    let entry: Pending | undefined;
    for (const p of group.pending.values()) {
      if (p.runningIn === null && p.visibleAt <= now && (!entry || p.offset < entry.offset)) entry = p;
    }
    if (!entry) {
      if (group.next >= endOf(topic)) return false;
      entry = { offset: group.next++, runningIn: null, visibleAt: 0 };
      group.pending.set(entry.offset, entry);
    }
    deliver(member, entry);
    return true;
  }

  function deliver(member: Member, entry: Pending) {
    const { topic, group } = member;
    const message = topic.log[entry.offset - topic.base]!;
    entry.runningIn = member;
    const run = (async () => {
      let ok = false;
      try {
        await member.handler({ ...message });
        ok = true;
      } catch {
        // The entry stays pending and comes back after redeliverAfterMs.
      }
      member.running.delete(entry.offset);
      const current = group.pending.get(entry.offset);
      if (ok) {
        // Acknowledged, whoever holds it now (as XACK does).
        group.pending.delete(entry.offset);
        group.committed = committedOf(group);
        advance(topic);
      } else if (current === entry && entry.runningIn === member) {
        entry.runningIn = null;
        entry.visibleAt = Date.now() + member.redeliverAfterMs;
      }
      pumpGroup(topic, group);
    })();
    member.running.set(entry.offset, run);
  }

  /** Reports what every group has now handled and drops it from memory. */
  function advance(topic: Topic) {
    const low = lowestCommitted(topic);
    if (low === undefined) return;
    if (low > topic.ackedUpTo) {
      for (let o = topic.ackedUpTo; o < low; o++) acknowledgedIds.push(topic.log[o - topic.base]!.id);
      topic.ackedUpTo = low;
      const excess = acknowledgedIds.length - maxBacklog * 10;
      if (excess > 0) acknowledgedIds = acknowledgedIds.slice(excess);
    }
    // Nothing below the lowest committed offset is delivered again. Trim in chunks, not per message.
    const trimmable = low - topic.base;
    if (trimmable > 0 && (trimmable >= 1024 || trimmable * 2 >= topic.log.length)) {
      topic.log.splice(0, trimmable);
      topic.base = low;
    }
  }

  /** Messages of the topic that some group has not handled yet (all of them while no group exists). */
  const unacknowledged = (topic: Topic) => endOf(topic) - (lowestCommitted(topic) ?? topic.base);

  /** Keeps one timer per group, set for the earliest moment a pending entry becomes visible. */
  function scheduleWake(topic: Topic, group: Group) {
    let earliest = Infinity;
    for (const p of group.pending.values()) if (p.runningIn === null && p.visibleAt < earliest) earliest = p.visibleAt;
    if (earliest === Infinity || group.members.length === 0) {
      if (group.timer) clearTimeout(group.timer);
      group.timer = undefined;
      return;
    }
    if (group.timer && group.timerAt <= earliest) return;
    if (group.timer) clearTimeout(group.timer);
    group.timerAt = earliest;
    group.timer = setTimeout(
      () => {
        group.timer = undefined;
        pumpGroup(topic, group);
      },
      Math.max(0, earliest - Date.now()),
    );
    group.timer.unref();
  }

  const broker: MemoryBroker = {
    kind: 'memory',
    durable: false,

    acknowledged() {
      const ids = acknowledgedIds;
      acknowledgedIds = [];
      return ids;
    },

    stats() {
      let retained = 0;
      let waiting = 0;
      for (const topic of topics.values()) {
        retained += topic.log.length;
        waiting += unacknowledged(topic);
      }
      return { retained, unacknowledged: waiting };
    },

    setAvailable(value: boolean) {
      available = value;
      if (available) for (const topic of topics.values()) for (const group of topic.groups.values()) pumpGroup(topic, group);
    },

    async publish(topicName, messages) {
      if (closed) throw new Error('memory broker closed');
      if (!available) throw new Error('memory broker unavailable');
      if (options.failPublish?.(topicName, messages)) throw new Error('memory broker publish failed (injected)');
      refuseOversized(messages, maxMessageBytes, 'memory broker');
      const topic = topicOf(topicName);
      const backlog = unacknowledged(topic);
      if (backlog > 0 && backlog + messages.length > maxBacklog) {
        throw new Error(`memory broker backlog full: ${backlog} messages not yet handled by every group (limit ${maxBacklog})`);
      }
      for (const m of messages) topic.log.push({ id: m.id, key: m.key, value: m.value });
      // Deliver after the publisher has its answer, never inside its call.
      if (messages.length > 0) queueMicrotask(() => topic.groups.forEach((group) => pumpGroup(topic, group)));
    },

    async subscribe(topicName: string, opts: SubscribeOptions, handler: (message: BrokerMessage) => Promise<void>) {
      if (closed) throw new Error('memory broker closed');
      const topic = topicOf(topicName);
      let group = topic.groups.get(opts.group);
      if (!group) {
        group = { next: topic.base, pending: new Map(), committed: topic.base, members: [], timer: undefined, timerAt: Infinity };
        topic.groups.set(opts.group, group);
      }
      const member: Member = {
        topic,
        group,
        concurrency: Math.max(1, opts.concurrency ?? 1),
        redeliverAfterMs: opts.redeliverAfterMs ?? DEFAULT_REDELIVER_AFTER_MS,
        handler,
        running: new Map(),
        closed: false,
      };
      group.members.push(member);
      queueMicrotask(() => pumpGroup(topic, member.group));

      let closing: Promise<void> | undefined;
      const subscription: Subscription = {
        close() {
          closing ??= (async () => {
            member.closed = true;
            const g = member.group;
            g.members = g.members.filter((m) => m !== member);
            // Whatever this member still runs is now as good as a dead consumer's.
            const visibleAt = Date.now() + member.redeliverAfterMs;
            for (const p of g.pending.values()) {
              if (p.runningIn === member) {
                p.runningIn = null;
                p.visibleAt = visibleAt;
              }
            }
            scheduleWake(topic, g);
            await Promise.allSettled([...member.running.values()]);
            subscriptions.delete(subscription);
          })();
          return closing;
        },
      };
      subscriptions.add(subscription);
      return subscription;
    },

    /** False while unavailable, and while some topic's backlog is full (it takes nothing then). */
    async ping() {
      if (!available || closed) return false;
      for (const topic of topics.values()) if (unacknowledged(topic) >= maxBacklog) return false;
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
