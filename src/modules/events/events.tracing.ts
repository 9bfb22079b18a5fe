import { ROOT_CONTEXT, SpanKind, type Tracer } from '@opentelemetry/api';
import { contextOf, inSpan, linksTo, spanFailed } from '../../platform/tracing.context.js';
import type { Broker, BrokerMessage } from './broker.js';
import { EVENTS_TOPIC } from './outbox.event.js';

/**
 * The spans of the event flow, made only when tracing is on (a tracer is given). The requests that
 * wrote the events are known by their `traceparent`, stored with the outbox row and carried in the
 * message's headers. A publish carries many requests' events: it is a trace of its own, LINKED to
 * each. Handling one event belongs to the request that wrote it: the CONSUMER span is a child of
 * that request's span (so the request's trace shows what its event caused, and a sampled request's
 * consumers are sampled with it), and is linked to it too.
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
 * A consumer group's message handler that handles each message in a CONSUMER span, a child of the
 * request that wrote the event (the `traceparent` header) and linked to it; the handler's queries
 * are the span's children. An event without a traceparent starts a trace of its own. Without a
 * tracer, the handler itself.
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
    const traceparent = message.headers?.traceparent;
    const options = { kind: SpanKind.CONSUMER, attributes, links: linksTo([traceparent]) };
    return inSpan(tracer, `process ${EVENTS_TOPIC} ${group}`, options, contextOf(traceparent), () => handler(message));
  };
}
