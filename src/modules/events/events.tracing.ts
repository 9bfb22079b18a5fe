import { ROOT_CONTEXT, SpanKind, type Tracer } from '@opentelemetry/api';
import { inSpan, linksTo, spanFailed } from '../../platform/tracing.context.js';
import type { Broker, BrokerMessage } from './broker.js';
import { EVENTS_TOPIC } from './outbox.event.js';

/**
 * The spans of the event flow, made only when tracing is on (a tracer is given). Each publish and
 * each handling is a trace of its own, LINKED to the requests that wrote the events (their
 * `traceparent`, stored with the outbox row and carried in the message's headers), not a child of
 * them: a request's trace ends when it answers, and one publish carries many requests' events.
 */

/**
 * Runs the relay's publish of a claimed batch, and the marking after it, in one PRODUCER span
 * linked to each row's request; the broker's and the database's spans under it are its children.
 * `send` answers with the error of the rows that did not go out, if any: the span is marked failed.
 */
export function inPublishSpan<T extends { error?: unknown }>(
  tracer: Tracer | undefined,
  broker: Broker,
  traceContexts: (string | null)[],
  send: () => Promise<T>,
): Promise<T> {
  if (!tracer) return send();
  const attributes = {
    'messaging.system': broker.kind,
    'messaging.destination.name': EVENTS_TOPIC,
    'messaging.operation.type': 'send',
    'messaging.operation.name': 'publish',
    'messaging.batch.message_count': traceContexts.length,
  };
  return inSpan(tracer, `send ${EVENTS_TOPIC}`, { kind: SpanKind.PRODUCER, attributes, links: linksTo(traceContexts) }, ROOT_CONTEXT, async (span) => {
    const result = await send();
    if (result.error !== undefined) spanFailed(span, result.error);
    return result;
  });
}

/**
 * A consumer group's message handler that handles each message in a CONSUMER span linked to the
 * request that wrote the event (the `traceparent` header); the handler's queries are the span's
 * children. Without a tracer, the handler itself.
 */
export function withHandlingSpans(
  tracer: Tracer | undefined,
  group: string,
  handler: (message: BrokerMessage) => Promise<void>,
): (message: BrokerMessage) => Promise<void> {
  if (!tracer) return handler;
  return (message) => {
    const attributes = {
      'messaging.destination.name': EVENTS_TOPIC,
      'messaging.operation.type': 'process',
      'messaging.consumer.group.name': group,
      'messaging.message.id': message.id,
    };
    const links = linksTo([message.headers?.traceparent]);
    return inSpan(tracer, `process ${EVENTS_TOPIC} ${group}`, { kind: SpanKind.CONSUMER, attributes, links }, ROOT_CONTEXT, () => handler(message));
  };
}
