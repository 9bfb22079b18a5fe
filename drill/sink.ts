/**
 * A small data platform for the data-platform-down drill: it takes the exported events over HTTP
 * and counts each delivery by event id (a delivery: an event it answered 2xx). Told to, it answers
 * 500 to everything or takes requests and never answers, as a platform in trouble does.
 */
import { createServer, type ServerResponse } from 'node:http';

export type SinkMode = 'ok' | 'fail' | 'hang';

export interface Sink {
  url: string;
  mode: SinkMode;
  /** event id → deliveries answered 2xx. */
  readonly deliveries: Map<string, number>;
  /** Requests answered 500, and requests left hanging. */
  refused: number;
  hung: number;
  close(): Promise<void>;
}

export async function startSink(): Promise<Sink> {
  const held: ServerResponse[] = [];
  const sink = {
    url: '',
    mode: 'ok' as SinkMode,
    deliveries: new Map<string, number>(),
    refused: 0,
    hung: 0,
    close: async () => {},
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (sink.mode === 'hang') {
        sink.hung++;
        held.push(res);
        return;
      }
      if (sink.mode === 'fail') {
        sink.refused++;
        res.writeHead(500, { 'content-type': 'text/plain' }).end('the data platform is down');
        return;
      }
      let id: string | undefined;
      try {
        id = JSON.parse(Buffer.concat(chunks).toString('utf8')).id;
      } catch {
        // counted as nothing: not an event
      }
      if (typeof id === 'string') sink.deliveries.set(id, (sink.deliveries.get(id) ?? 0) + 1);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  sink.url = `http://127.0.0.1:${(server.address() as { port: number }).port}/events`;
  sink.close = async () => {
    for (const res of held) res.destroy();
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  };
  return sink;
}
