import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBroker } from '../../src/modules/events/broker.memory.js';
import { CircuitBreaker, dataPlatformExporter, startConsumers } from '../../src/modules/events/consumers.js';
import type { OutgoingEvent } from '../../src/modules/events/outbox.event.js';
import { startRelay } from '../../src/modules/events/outbox.relay.js';
import { createConcert, type TestApp } from '../support/harness.js';
import { log, sellSeatId } from '../support/outbox.js';
import { createTestAppOnOwnDatabase } from '../support/own-database.js';
import { until } from '../support/wait.js';

/**
 * The data-platform-down fault in its worse form: the export endpoint accepts requests and never
 * answers. Sales go on, the exporter's calls time out and its circuit opens; once the endpoint
 * answers again every confirmed reservation arrives, each event id once.
 */
describe('the data platform hanging', () => {
  let t: TestApp;
  let server: Server;
  let url: string;
  let hanging = false;
  const held: ServerResponse[] = [];
  const received: OutgoingEvent[] = [];

  beforeAll(async () => {
    t = await createTestAppOnOwnDatabase('faults_platform');
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        if (hanging) return void held.push(res); // no answer, ever
        received.push(JSON.parse(body));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/events`;
  });
  afterAll(async () => {
    for (const res of held) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await t?.close();
  });

  it('sells on while calls time out and the circuit opens; afterwards every event arrives once', { timeout: 60_000 }, async () => {
    const broker = createMemoryBroker();
    const breaker = new CircuitBreaker(2, 300);
    const states = new Set<string>();
    const relay = startRelay({ db: t.db, broker, clock: t.services.clock, log, maxBackoffMs: 200, idleMs: 20 });
    const consumers = await startConsumers({
      broker,
      instanceId: 'faults',
      log,
      redeliverAfterMs: 200,
      consumers: {
        'data-platform': dataPlatformExporter({
          db: t.db,
          url,
          retries: 0,
          timeoutMs: 300,
          breaker,
          onExport: () => states.add(breaker.state),
        }),
      },
    });
    try {
      const concert = await createConcert(t, [{ seatCount: 10, price: 1_000 }]);
      hanging = true;
      const sold: string[] = [];
      for (let seat = 1; seat <= 5; seat++) sold.push(await sellSeatId(t, concert.schedules[0]!.id, seat)); // each answered 201
      await until(() => held.length >= 2 && states.has('open'), 15_000);
      expect(received).toEqual([]);

      hanging = false;
      const resumed = performance.now();
      await until(() => received.length >= sold.length, 20_000);
      const caughtUpMs = performance.now() - resumed;
      expect(received.map((e) => e.payload.reservationId).sort()).toEqual([...sold].sort());
      expect(new Set(received.map((e) => e.id)).size).toBe(received.length);
      console.info(`data-platform-down: ${held.length} calls left hanging; every export arrived ${Math.round(caughtUpMs)} ms after the endpoint answered again`);
    } finally {
      await relay.stop();
      await Promise.all(consumers.map((c) => c.close()));
    }
  });
});
