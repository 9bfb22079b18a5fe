/** The yardstick: a bare Fastify route on the same machine, in its own process like the service. */
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/bare', async () => ({ ok: true }));
const port = Number(process.env.PORT ?? 0);
const address = await app.listen({ port, host: '127.0.0.1' });
process.send?.({ address });
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
