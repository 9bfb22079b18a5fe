import { withTimeout } from '../../platform/timeout.js';
import { EpochChangedError, UnpublishableMessageError, type Broker, type BrokerMessage } from './broker.js';
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
  /** The broker refused a publish for its epoch (the topic was lost): the rest of the batch is held. */
  epochChanged?: boolean;
  /** The epoch the rows were published under, if any. */
  epoch?: string;
}

/** Where a batch goes: to these consumer groups alone (in-process broker), under this epoch (durable brokers with one). */
export interface Target {
  groups?: string[];
  epoch?: string;
}

export const errorText = (err: unknown) => String(err instanceof Error ? err.message : err).slice(0, 500);

function publishWithin(broker: Broker, messages: BrokerMessage[], ms: number, target: Target): Promise<void> {
  const options = target.groups || target.epoch !== undefined ? target : undefined;
  return withTimeout(
    broker.publish(EVENTS_TOPIC, messages, options),
    ms,
    `broker did not answer the publish within ${ms} ms`,
  );
}

/**
 * Publishes a claimed batch. Messages the broker refuses for good are set aside (parked) and the
 * rest published again. When the batch fails otherwise while the broker answers ping, something in
 * the batch may be the cause: it is published one message at a time, and a message that fails
 * holds back the later messages of its key, so order per key is kept. A publish refused for its
 * epoch holds back what was not sent yet (the relay looks for the loss first).
 */
export async function publishBatch(broker: Broker, rows: OutboxRow[], timeoutMs: number, target: Target = {}): Promise<Outcome> {
  const out: Outcome = { sent: [], failed: [], parked: [], held: [], brokerDown: false, epoch: target.epoch };
  let rest = rows;
  while (rest.length > 0) {
    try {
      await publishWithin(broker, rest.map(toMessage), timeoutMs, target);
      out.sent.push(...rest);
      return out;
    } catch (err) {
      out.lastError = err;
      if (err instanceof EpochChangedError) return holdRest(out, rest);
      if (err instanceof UnpublishableMessageError && err.ids.length > 0) {
        const refused = new Set(err.ids);
        const error = errorText(err);
        for (const row of rest) if (refused.has(row.id)) out.parked.push({ row, error });
        const before = rest.length;
        rest = rest.filter((r) => !refused.has(r.id));
        if (rest.length < before) continue;
      }
      const up = await broker.ping().catch(() => false);
      if (up && rest.length > 1) return oneByOne(broker, rest, timeoutMs, out, target);
      out.brokerDown = !up;
      const error = errorText(err);
      out.failed.push(...rest.map((row) => ({ row, error })));
      return out;
    }
  }
  return out;
}

function holdRest(out: Outcome, rest: OutboxRow[]): Outcome {
  out.epochChanged = true;
  out.held.push(...rest);
  return out;
}

async function oneByOne(broker: Broker, rows: OutboxRow[], timeoutMs: number, out: Outcome, target: Target): Promise<Outcome> {
  const blockedKeys = new Set<string>();
  for (const [i, row] of rows.entries()) {
    if (blockedKeys.has(row.aggregate_id)) {
      out.held.push(row);
      continue;
    }
    try {
      await publishWithin(broker, [toMessage(row)], timeoutMs, target);
      out.sent.push(row);
    } catch (err) {
      out.lastError = err;
      if (err instanceof EpochChangedError) return holdRest(out, rows.slice(i));
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
