import { context, isSpanContextValid, trace } from '@opentelemetry/api';

const none = {};

/**
 * A pino `mixin`: the active span's trace_id and span_id (and trace_flags: 01 when the trace is
 * sampled) on every line written inside it; nothing outside a span. Installed only when tracing is on.
 */
export function traceLogFields(): Record<string, string> {
  const span = trace.getSpan(context.active());
  if (!span) return none;
  const ids = span.spanContext();
  if (!isSpanContextValid(ids)) return none;
  return { trace_id: ids.traceId, span_id: ids.spanId, trace_flags: ids.traceFlags.toString(16).padStart(2, '0') };
}
