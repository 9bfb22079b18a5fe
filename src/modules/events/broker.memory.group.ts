import type { BrokerMessage, SubscribeOptions } from './broker.js';

/**
 * Delivery inside the in-process broker: each consumer group of a topic has a queue of its own, its
 * pending entries and its members. It follows the Redis Streams adapter so both pass one contract:
 * - A member takes redeliverable pending entries of its group first (lowest offset first), then
 *   the group's queue in publish order. A new group starts with every message the topic still
 *   holds for any group (all of them while no group exists), so it sees what was published before
 *   it joined as long as some group still needs it.
 * - A handler that resolves acknowledges its entry. One that throws leaves the entry pending,
 *   visible again `redeliverAfterMs` later to any member of the group.
 * - An entry whose handler is still running under an open member is never redelivered (Redis keeps
 *   such entries fresh the same way). When a member closes, its still-running entries become
 *   visible `redeliverAfterMs` later, as a dead consumer's would: a hung handler cannot hold them.
 */

const DEFAULT_REDELIVER_AFTER_MS = 5_000;

/** A message the topic holds, shared by the groups that took it. */
export interface Entry {
  offset: number;
  message: BrokerMessage;
  /** Groups that took it and have not handled it yet. */
  holders: number;
  /** Groups that were offered it and did not take it. */
  missed: string[];
}

interface Pending {
  entry: Entry;
  /** The member whose handler is running, or null once the handler failed or its member closed. */
  runningIn: Member | null;
  /** When the entry may be delivered again (meaningful when runningIn is null). */
  visibleAt: number;
}

export interface Group {
  name: string;
  /** Entries taken by the group and not delivered yet, in publish order, from `head`. */
  queue: Entry[];
  head: number;
  /** Entries delivered and not acknowledged yet. */
  pending: Map<number, Pending>;
  members: Member[];
  timer: NodeJS.Timeout | undefined;
  timerAt: number;
}

export interface Topic {
  /** Every entry some group still needs (or, while no group exists, every entry), by offset. */
  entries: Map<number, Entry>;
  nextOffset: number;
  groups: Map<string, Group>;
}

/** Messages the group holds without having handled them. */
export const heldBy = (group: Group) => group.queue.length - group.head + group.pending.size;

export interface Member {
  topic: Topic;
  group: Group;
  concurrency: number;
  redeliverAfterMs: number;
  handler: (message: BrokerMessage) => Promise<void>;
  running: Map<number, Promise<void>>;
  closed: boolean;
}

export interface GroupDelivery {
  /** Wakes every member of the group, in turn, until none can take more. */
  pump(topic: Topic, group: Group): void;
  /** A new member of the group `options.group`, created (with what the topic holds) if need be. */
  join(topic: Topic, options: SubscribeOptions, handler: (message: BrokerMessage) => Promise<void>): Member;
  /** The member takes nothing more; whatever it still runs is now as good as a dead consumer's. */
  leave(member: Member): void;
}

/**
 * Delivery for one broker: `delivering()` is false while it is unavailable or closed (deliveries
 * pause); `release` is told each time a group has handled an entry.
 */
export function createGroupDelivery(broker: { delivering(): boolean; release(topic: Topic, entry: Entry): void }): GroupDelivery {
  function pump(topic: Topic, group: Group) {
    if (!broker.delivering()) return;
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
    const { group } = member;
    if (member.closed || member.running.size >= member.concurrency) return false;
    const now = Date.now();
    let pending: Pending | undefined;
    for (const p of group.pending.values()) {
      if (p.runningIn === null && p.visibleAt <= now && (!pending || p.entry.offset < pending.entry.offset)) pending = p;
    }
    if (!pending) {
      const entry = group.queue[group.head];
      if (!entry) return false;
      group.queue[group.head++] = undefined as unknown as Entry;
      if (group.head >= 1024 && group.head * 2 >= group.queue.length) {
        group.queue = group.queue.slice(group.head);
        group.head = 0;
      }
      pending = { entry, runningIn: null, visibleAt: 0 };
      group.pending.set(entry.offset, pending);
    }
    deliver(member, pending);
    return true;
  }

  function deliver(member: Member, pending: Pending) {
    const { topic, group } = member;
    const { entry } = pending;
    pending.runningIn = member;
    const run = (async () => {
      let ok = false;
      try {
        await member.handler({ ...entry.message });
        ok = true;
      } catch {
        // The entry stays pending and comes back after redeliverAfterMs.
      }
      member.running.delete(entry.offset);
      const current = group.pending.get(entry.offset);
      if (ok) {
        // Acknowledged, whoever holds it now (as XACK does).
        if (current) {
          group.pending.delete(entry.offset);
          broker.release(topic, entry);
        }
      } else if (current === pending && pending.runningIn === member) {
        pending.runningIn = null;
        pending.visibleAt = Date.now() + member.redeliverAfterMs;
      }
      pump(topic, group);
    })();
    member.running.set(entry.offset, run);
  }

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
        pump(topic, group);
      },
      Math.max(0, earliest - Date.now()),
    );
    group.timer.unref();
  }

  function join(topic: Topic, opts: SubscribeOptions, handler: (message: BrokerMessage) => Promise<void>): Member {
    let group = topic.groups.get(opts.group);
    if (!group) {
      group = { name: opts.group, queue: [], head: 0, pending: new Map(), members: [], timer: undefined, timerAt: Infinity };
      // A new group takes everything the topic still holds for someone.
      for (const entry of topic.entries.values()) {
        group.queue.push(entry);
        entry.holders++;
      }
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
    queueMicrotask(() => pump(topic, member.group));
    return member;
  }

  function leave(member: Member) {
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
    scheduleWake(member.topic, g);
  }

  return { pump, join, leave };
}
