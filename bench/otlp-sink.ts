import { createServer, type Server } from 'node:http';

/**
 * A stand-in OTLP/HTTP receiver: accepts every POST /v1/traces, discards it and counts the bytes,
 * so a traced service pays for exporting its spans without a collector on the machine.
 */
export async function startOtlpSink(): Promise<{ url: string; received: () => number; close: () => Promise<void> }> {
  let bytes = 0;
  const server: Server = createServer((req, res) => {
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      res.writeHead(req.method === 'POST' && req.url === '/v1/traces' ? 200 : 404, { 'content-type': 'application/x-protobuf' });
      res.end();
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  server.unref(); // the bench ends when its measurements do
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    received: () => bytes,
    close: () => new Promise((done) => server.close(() => done())),
  };
}

/** The services' OTEL_* variables that sample `ratio` of the traces and export them to `sinkUrl`. */
export function tracedEnv(sinkUrl: string, ratio: number): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl,
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: String(ratio),
    OTEL_SERVICE_NAME: 'ticketing-bench',
  };
}

/** A sampling ratio in (0, 1] read from a flag's value, or an error naming the flag. */
export function samplingRatio(flag: string, value: string): number {
  const ratio = Number(value);
  if (!(ratio > 0 && ratio <= 1)) throw new Error(`${flag}: a sampling ratio in (0, 1], not ${value}`);
  return ratio;
}

/** A sink that says at the end of the run how much the services exported to it. */
export async function reportingSink(): Promise<string> {
  const sink = await startOtlpSink();
  process.on('exit', () => console.log(`tracing: the services exported ${(sink.received() / 1e6).toFixed(1)} MB of spans`));
  return sink.url;
}

/** The services' OTEL_* variables for `--tracing off|<ratio>`; a ratio starts a sink for the run. */
export async function tracingEnv(tracing: string): Promise<Record<string, string>> {
  if (tracing === 'off') return {};
  const ratio = samplingRatio('--tracing', tracing);
  const url = await reportingSink();
  console.log(`tracing: ${ratio * 100}% of requests sampled, exported to ${url}`);
  return tracedEnv(url, ratio);
}
