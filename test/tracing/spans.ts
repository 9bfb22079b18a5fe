import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

/** The spans below `root` in the finished spans, depth first. */
export function descendants(spans: ReadableSpan[], root: ReadableSpan): ReadableSpan[] {
  const children = spans.filter((s) => s.parentSpanContext?.spanId === root.spanContext().spanId);
  return children.flatMap((c) => [c, ...descendants(spans, c)]);
}

/** The sampled W3C `traceparent` naming this span. */
export const traceparentOf = (ids: { traceId: string; spanId: string }) => `00-${ids.traceId}-${ids.spanId}-01`;
