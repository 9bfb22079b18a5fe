import { createRequire } from 'node:module';
import { trace, type Tracer } from '@opentelemetry/api';
import type * as SdkNode from '@opentelemetry/sdk-node';
import type * as InstrumentationPg from '@opentelemetry/instrumentation-pg';
import type * as InstrumentationIoredis from '@opentelemetry/instrumentation-ioredis';
import type { Sampler, SpanProcessor } from '@opentelemetry/sdk-trace-base';

/** A started OpenTelemetry SDK: the tracer the service's own spans come from, and how to flush it. */
export interface Tracing {
  tracer: Tracer;
  /** Exports the spans still buffered and stops the SDK. */
  shutdown(): Promise<void>;
}

type Env = Record<string, string | undefined>;

/**
 * Whether the standard OTEL_* variables ask for traces: an exporter named in OTEL_TRACES_EXPORTER
 * (other than `none`), or an OTLP endpoint to send them to; OTEL_SDK_DISABLED=true overrides both.
 * OTEL_SERVICE_NAME and OTEL_TRACES_SAMPLER(_ARG) only shape traces that are on: set alone, they
 * turn nothing on, so a deployment that sets none of the exporter variables pays nothing.
 */
export function tracingRequested(env: Env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((e) => e.trim()).filter(Boolean);
  if (exporters.length > 0) return !exporters.includes('none');
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

/**
 * Starts tracing when the environment asks for it (or `spanProcessors` are given, as tests do, with
 * a `sampler` in place of the one OTEL_TRACES_SAMPLER names, if they need one);
 * otherwise returns undefined having loaded none of the SDK, and no tracer provider is registered.
 *
 * It must run before anything loads pg or ioredis: their instrumentations patch the modules as they
 * are loaded. It is synchronous (the SDK is required, not imported) so that a module calling it at
 * its top, imported first, finishes before the ES modules imported after it are evaluated.
 * The SDK reads the exporter, sampler (OTEL_TRACES_SAMPLER, _ARG) and service name from the
 * environment itself; only traces are exported, not the SDK's metrics or logs.
 */
export function startTracing(env: Env, opts: { spanProcessors?: SpanProcessor[]; sampler?: Sampler } = {}): Tracing | undefined {
  if (!opts.spanProcessors && !tracingRequested(env)) return undefined;
  const require = createRequire(import.meta.url);
  const { NodeSDK } = require('@opentelemetry/sdk-node') as typeof SdkNode;
  const { PgInstrumentation } = require('@opentelemetry/instrumentation-pg') as typeof InstrumentationPg;
  const { IORedisInstrumentation } = require('@opentelemetry/instrumentation-ioredis') as typeof InstrumentationIoredis;
  const sdk = new NodeSDK({
    ...(env.OTEL_SERVICE_NAME ? {} : { serviceName: 'ticketing' }),
    ...(opts.spanProcessors ? { spanProcessors: opts.spanProcessors } : {}),
    ...(opts.sampler ? { sampler: opts.sampler } : {}),
    metricReaders: [],
    logRecordProcessors: [],
    // Queries and commands outside a traced operation (the sweeper's and the ticker's polls) would
    // each be a trace of one span: they are left out. Taking a connection from the pool is not a
    // span: the wait shows as the gap before the first query, and in the pool's gauges.
    instrumentations: [
      new PgInstrumentation({ requireParentSpan: true, ignoreConnectSpans: true }),
      new IORedisInstrumentation({ requireParentSpan: true }),
    ],
  });
  sdk.start();
  // The service imports pg and ioredis as ES modules; loading them here through require, once the
  // instrumentations are hooked in, makes the patched CommonJS instances the ones those imports get.
  require('pg');
  require('ioredis');
  return { tracer: trace.getTracer('ticketing'), shutdown: () => sdk.shutdown() };
}
