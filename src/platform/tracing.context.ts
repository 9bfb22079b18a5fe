import {
  context,
  isSpanContextValid,
  ROOT_CONTEXT,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Context,
  type Link,
  type Span,
  type SpanContext,
  type SpanOptions,
  type Tracer,
} from '@opentelemetry/api';

/**
 * Trace context carried past the process's own async context: stored with an outbox row, put in a
 * message's headers, kept with a request that waits for a batch. Always the W3C `traceparent`
 * form, whichever propagators HTTP uses, and only for a sampled span: outside traced work (tracing
 * off, or a request not sampled, which runs outside any context) there is nothing to carry.
 */
export function activeTraceparent(): string | undefined {
  const span = trace.getSpan(context.active());
  if (!span) return undefined;
  const ids = span.spanContext();
  if (!(ids.traceFlags & TraceFlags.SAMPLED) || !isSpanContextValid(ids)) return undefined;
  return `00-${ids.traceId}-${ids.spanId}-01`;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** The span context a `traceparent` names, or undefined when it is absent or malformed. */
export function parseTraceparent(traceparent: string | null | undefined): SpanContext | undefined {
  const m = traceparent ? TRACEPARENT.exec(traceparent) : null;
  if (!m || m[1] === 'ff') return undefined;
  const ids: SpanContext = { traceId: m[2]!, spanId: m[3]!, traceFlags: parseInt(m[4]!, 16) & TraceFlags.SAMPLED, isRemote: true };
  return isSpanContextValid(ids) ? ids : undefined;
}

/** Links to the span contexts these `traceparent`s name (absent and malformed ones left out). */
export function linksTo(traceparents: Iterable<string | null | undefined>): Link[] {
  const links: Link[] = [];
  for (const tp of traceparents) {
    const ids = parseTraceparent(tp);
    if (ids) links.push({ context: ids });
  }
  return links;
}

/** A context whose parent span is the one `traceparent` names (the root context without one). */
export function contextOf(traceparent: string | null | undefined): Context {
  const ids = parseTraceparent(traceparent);
  return ids ? trace.setSpanContext(ROOT_CONTEXT, ids) : ROOT_CONTEXT;
}

/**
 * Runs a statement made of many requests in a span of its own: a child of the first traced
 * request's span, linked to every other traced request's, so each request's trace shows the
 * statement that did its work and the statement's queries are the span's children. With no traced
 * request among them (tracing off, none sampled), it only runs `statement`.
 */
export function inBatchSpan<T>(name: string, requests: readonly { traceContext?: string }[], statement: () => Promise<T>): Promise<T> {
  const traced = requests.flatMap((r) => (r.traceContext ? [r.traceContext] : []));
  if (traced.length === 0) return statement();
  const attributes = { 'batch.size': requests.length, 'batch.traced': traced.length };
  return inSpan(trace.getTracer('ticketing'), `${name} batch`, { attributes, links: linksTo(traced.slice(1)) }, contextOf(traced[0]), statement);
}

/** Marks a span failed with `err`'s message. */
export const spanFailed = (span: Span, err: unknown) =>
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });

/**
 * Runs `run` in a new span (a child of `parent`'s span, if any), ended when it settles, failed when it
 * throws. A span the sampler drops is never made the active one: `run` runs in the current context,
 * so the pg and ioredis instrumentations, finding no parent span, skip their queries outright
 * instead of making spans that would be dropped too (and no context is entered for it).
 */
export function inSpan<T>(tracer: Tracer, name: string, options: SpanOptions, parent: Context, run: (span: Span) => Promise<T>): Promise<T> {
  const span = tracer.startSpan(name, options, parent);
  if (!span.isRecording()) return run(span);
  return context.with(trace.setSpan(parent, span), async () => {
    try {
      return await run(span);
    } catch (err) {
      spanFailed(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}
