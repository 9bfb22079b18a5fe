import { withTimeout } from '../../platform/timeout.js';
import { UnpublishableMessageError, type Broker, type BrokerMessage } from './broker.js';
import { EVENTS_TOPIC, toMessage } from './outbox.event.js';
import type { Failure, OutboxRow } from './outbox.repository.js';

/** What publishing a claimed batch did to each of its rows. */
export interface Outcome {
  sent: OutboxRow[];
  failed: Failure[];
  parked: Failure[];
  /** Rows left for later untouched: an earlier row of their key failed in this pass. */
  held: OutboxRow[];
  lastError?: unknown;
  /** A publish failed and the broker did not answer ping either. */
  brokerDown: boolean;
}

const errorText = (err: unknown) => String(err instanceof Error ? err.message : err).slice(0, 500);

function publishWithin(broker: Broker, messages: BrokerMessage[], ms: number, groups?: string[]): Promise<void> {
  return withTimeout(
    broker.publish(EVENTS_TOPIC, messages, groups ? { groups } : undefined),
    ms,
    `broker did not answer the publish within ${ms} ms`,
  );
}

/**
 * Publishes a claimed batch. Messages the broker refuses for good are set aside (parked) and the
 * rest published again. When the batch fails otherwise while the broker answers ping, something in
 * the batch may be the cause: it is published one message at a time, and a message that fails
 * holds back the later messages of its key, so order per key is kept.
 */
export async function publishBatch(broker: Broker, rows: OutboxRow[], timeoutMs: number, groups?: string[]): Promise<Outcome> {
  const out: Outcome = { sent: [], failed: [], parked: [], held: [], brokerDown: false };
  let rest = rows;
  while (rest.length > 0) {
    try {
      await publishWithin(broker, rest.map(toMessage), timeoutMs, groups);
      out.sent.push(...rest);
      return out;
    } catch (err) {
      out.lastError = err;
      if (err instanceof UnpublishableMessageError && err.ids.length > 0) {
        const refused = new Set(err.ids);
        const error = errorText(err);
        for (const row of rest) if (refused.has(row.id)) out.parked.push({ row, error });
        const before = rest.length;
        rest = rest.filter((r) => !refused.has(r.id));
        if (rest.length < before) continue;
      }
      const up = await broker.ping().catch(() => false);
      if (up && rest.length > 1) return oneByOne(broker, rest, timeoutMs, out, groups);
      out.brokerDown = !up;
      const error = errorText(err);
      out.failed.push(...rest.map((row) => ({ row, error })));
      return out;
    }
  }
  return out;
}

async function oneByOne(broker: Broker, rows: OutboxRow[], timeoutMs: number, out: Outcome, groups?: string[]): Promise<Outcome> {
  const blockedKeys = new Set<string>();
  for (const row of rows) {
    if (blockedKeys.has(row.aggregate_id)) {
      out.held.push(row);
      continue;
    }
    try {
      await publishWithin(broker, [toMessage(row)], timeoutMs, groups);
      out.sent.push(row);
    } catch (err) {
      out.lastError = err;
      const failure = { row, error: errorText(err) };
      if (err instanceof UnpublishableMessageError && err.ids.includes(row.id)) {
        out.parked.push(failure);
      } else {
        out.failed.push(failure);
        blockedKeys.add(row.aggregate_id);
      }
    }
  }
  return out;
}
