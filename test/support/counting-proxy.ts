import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** The SSLRequest and GSSENCRequest codes: a client may send one before its startup message. */
const PRE_STARTUP_CODES = new Set([80877103, 80877104]);

/**
 * A TCP proxy in front of PostgreSQL that reads what clients send (the frontend protocol: an untyped
 * startup message, then typed messages) and counts the statements they run: every simple Query
 * ('Q') and every Execute ('E') of the extended protocol. It also keeps the text of each statement
 * parsed ('P') or sent as a simple query, so a test can tell which tables were asked about.
 * Only the connections through it are seen, not the other test files sharing the server.
 */
export async function countingProxy(target: string) {
  const upstreamUrl = new URL(target);
  /** The text of every statement run, in order. */
  const executed: string[] = [];
  const sockets = new Set<Socket>();

  /** Reads one connection's messages; statements are named per connection (prepared once each). */
  function reader() {
    let buffered = Buffer.alloc(0);
    let startup = true;
    const prepared = new Map<string, string>();
    const portals = new Map<string, string>();
    const cstrings = (body: Buffer, count: number): string[] => {
      const out: string[] = [];
      for (let at = 0; out.length < count; ) {
        const end = body.indexOf(0, at);
        out.push(body.toString('utf8', at, end));
        at = end + 1;
      }
      return out;
    };
    return (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        if (startup) {
          if (buffered.length < 8) return;
          const length = buffered.readInt32BE(0);
          if (buffered.length < length) return;
          startup = PRE_STARTUP_CODES.has(buffered.readInt32BE(4));
          buffered = buffered.subarray(length);
          continue;
        }
        if (buffered.length < 5) return;
        const type = String.fromCharCode(buffered[0]!);
        const length = buffered.readInt32BE(1);
        if (buffered.length < 1 + length) return;
        const body = buffered.subarray(5, 1 + length);
        if (type === 'P') {
          const [name, text] = cstrings(body, 2) as [string, string];
          prepared.set(name, text);
        } else if (type === 'B') {
          const [portal, statement] = cstrings(body, 2) as [string, string];
          portals.set(portal, prepared.get(statement) ?? '');
        } else if (type === 'E') {
          executed.push(portals.get(cstrings(body, 1)[0]!) ?? '');
        } else if (type === 'Q') {
          executed.push(cstrings(body, 1)[0]!);
        }
        buffered = buffered.subarray(1 + length);
      }
    };
  }

  const server: Server = createServer((client) => {
    const upstream = connect(Number(upstreamUrl.port || 5432), upstreamUrl.hostname);
    client.on('data', reader());
    client.pipe(upstream).pipe(client);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => socket.destroy());
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = Object.assign(new URL(target), { hostname: '127.0.0.1', port: String((server.address() as AddressInfo).port) });
  return {
    url: url.toString(),
    /** The text of every statement run through the proxy so far, in order. */
    statements: (): readonly string[] => [...executed],
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
