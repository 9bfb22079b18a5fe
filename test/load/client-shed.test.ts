/** The load client sends a request the server shed (nothing done) again, and nothing else. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createClient } from '../../load/client.js';
import { Recorder } from '../../load/recorder.js';

let server: Server;
let base: string;
/** Answers each path's requests in turn from its script: [status, body]. */
const scripts = new Map<string, [number, object][]>();
const received = new Map<string, number>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url!;
    const n = received.get(path) ?? 0;
    received.set(path, n + 1);
    const script = scripts.get(path)!;
    const [status, body] = script[Math.min(n, script.length - 1)]!;
    res.writeHead(status, { 'content-type': 'application/json', ...(status === 503 ? { 'retry-after': '0' } : {}) });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

const shed = [503, { code: 'UNAVAILABLE', shed: true }] as [number, object];

it('sends a shed sign-up again after Retry-After until it is served, recording each attempt', async () => {
  scripts.set('/a', [shed, shed, [201, { id: 'u1' }]]);
  const recorder = new Recorder(Date.now());
  const client = createClient([base], recorder);
  const answer = await client.call('signup', 'POST', '/a', { body: { name: 'x' } });
  client.close();
  expect(answer.status).toBe(201);
  expect(received.get('/a')).toBe(3);
  expect(recorder.requests).toBe(3);
});

it('gives up on a request shed five times, and never repeats a 503 that is not marked shed', async () => {
  scripts.set('/b', [shed]);
  scripts.set('/c', [[503, { code: 'UNAVAILABLE' }], [201, {}]]);
  const client = createClient([base], new Recorder(Date.now()));
  expect((await client.call('signup', 'POST', '/b')).status).toBe(503);
  expect(received.get('/b')).toBe(5);
  expect((await client.call('signup', 'POST', '/c')).status).toBe(503);
  expect(received.get('/c')).toBe(1);
  client.close();
});
