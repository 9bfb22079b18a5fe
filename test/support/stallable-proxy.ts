import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of the real Redis that can stall: while stalled, commands still reach Redis
 * but no answer comes back, as with a server stuck in a slow script or `DEBUG SLEEP`. Only the
 * connections through it are affected, not the other test files sharing the Redis. It can also
 * cut every connection.
 */
export async function stallableProxy(target: URL) {
  let stalled = false;
  let cut = false;
  const pairs = new Set<{ held: Buffer[]; client: Socket; upstream: Socket }>();
  const server: Server = createServer((client) => {
    if (cut) return void client.destroy();
    const upstream = connect(Number(target.port || 6379), target.hostname);
    const pair = { held: [] as Buffer[], client, upstream };
    pairs.add(pair);
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d: Buffer) => (stalled ? pair.held.push(d) : client.write(d)));
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.toString(),
    stall: () => void (stalled = true),
    resume() {
      stalled = false;
      for (const p of pairs) for (const d of p.held.splice(0)) p.client.write(d);
    },
    /** Drops every connection and refuses new ones, as a Redis that went away. */
    cut() {
      cut = true;
      for (const p of pairs) p.client.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const p of pairs) p.client.destroy();
        server.close(() => resolve());
      }),
  };
}
