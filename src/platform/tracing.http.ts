import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';

const kSpan = Symbol('http span');
type TracedRequest = FastifyRequest & { [kSpan]?: Span };

/**
 * One server span per request, named `METHOD /route/template`, with the HTTP semantic-convention
 * attributes; a `traceparent` header makes it a child of the caller's span. Everything the request
 * runs after this hook (later hooks, body parsing, the handler) runs in the span's context, so the
 * pg and ioredis spans it causes are its children and its log lines carry its ids.
 *
 * Fastify hooks rather than the http or Fastify instrumentations: one span and no per-hook spans,
 * attributes computed only for sampled requests, and the same spans under `inject()` as over a socket.
 * Register it before any other hook.
 */
export function registerHttpTracing(app: FastifyInstance, tracer: Tracer): void {
  // The headers the configured propagators read (traceparent, tracestate, baggage by default): a
  // request with none of them (most) has no caller's context to extract.
  const fields = propagation.fields();
  const fromCaller = (request: FastifyRequest) => fields.some((f) => request.headers[f] !== undefined);
  app.addHook('onRequest', (request: TracedRequest, _reply, done) => {
    const route = request.routeOptions.url;
    const parent = fromCaller(request) ? propagation.extract(ROOT_CONTEXT, request.headers) : ROOT_CONTEXT;
    const span = tracer.startSpan(route ? `${request.method} ${route}` : request.method, { kind: SpanKind.SERVER }, parent);
    // An unsampled request is not traced at all: its children would be dropped anyway (the sampler
    // follows the parent), and running it in a context would cost every promise it creates.
    if (!span.isRecording()) return done();
    span.setAttributes({
      'http.request.method': request.method,
      'url.path': request.url.split('?', 1)[0],
      'url.scheme': request.protocol,
      'network.protocol.version': request.raw.httpVersion,
      'client.address': request.ip,
      ...(route ? { 'http.route': route } : {}),
      ...(request.headers['user-agent'] ? { 'user_agent.original': request.headers['user-agent'] } : {}),
    });
    request[kSpan] = span;
    const active = trace.setSpan(parent, span);
    // A body arrives in later events of the raw request: its listeners (the body parser, then the
    // handler) must run in the span's context too.
    if (request.raw.readable) context.bind(active, request.raw);
    context.with(active, done);
  });
  app.addHook('onError', (request: TracedRequest, _reply, error, done) => {
    request[kSpan]?.setAttribute('error.type', error.code ?? error.name);
    done();
  });
  app.addHook('onResponse', (request: TracedRequest, reply, done) => {
    const span = request[kSpan];
    if (span) {
      span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
    done();
  });
}
