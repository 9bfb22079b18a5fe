/**
 * Payments of the holds made by the hold scenarios, with the outbox relay running and without it,
 * on instances that differ in nothing else that a payment touches.
 */
import type { Request } from '../measure.js';
import type { Instance } from '../processes.js';
import type { ScenarioContext } from './context.js';
import type { Held } from './holds.js';

/**
 * Pays each of `holds` once on `instance`, as fast as it answers or at `rate` per second, each with
 * an Idempotency-Key when `keyed`; the holds are on `concertId` (default the spread concert).
 */
export function payOn(
  { fixtures, measure }: Pick<ScenarioContext, 'fixtures' | 'measure'>,
  label: string,
  instance: Instance,
  holds: Held[],
  { rate, keyed = false, concertId = fixtures.spreadConcert.id }: { rate?: number; keyed?: boolean; concertId?: string } = {},
) {
  let p = 0;
  return measure(label, `${instance.url}/payments`, {
    pid: instance.pid,
    amount: holds.length,
    ...(rate ? { rate } : {}),
    requests: [
      {
        method: 'POST',
        setupRequest: (req: Request) => {
          const h = holds[p++ % holds.length]!;
          const headers = {
            ...fixtures.booking(h.user, concertId, instance.url),
            ...(keyed ? { 'idempotency-key': `bench-pay-${h.id}` } : {}),
          };
          return { ...req, headers, body: JSON.stringify({ reservationId: h.id }) };
        },
      } as Request,
    ],
  });
}

/**
 * Pays shares of `held`, each `share` holds long: relay on (on the Redis instance when there is
 * one), then `pairs` pairs of relay off without and with an Idempotency-Key on each payment, on
 * the same instance, so that each pair ran in the same minute on the same machine.
 * Uses 1 + 2 × pairs shares.
 */
export async function paymentScenarios(context: ScenarioContext, held: Held[], share: number, pairs = 1): Promise<void> {
  const { processes, fixtures, add } = context;
  const { redis, service, uncached } = processes;
  if (redis) {
    await fixtures.joinAll(redis.url, fixtures.spreadConcert.id);
    add(await payOn(context, `payments, relay on, Redis (${share})`, redis, held.slice(0, share)));
  } else {
    add(await payOn(context, `payments, relay on (${share})`, service, held.slice(0, share)));
  }
  await fixtures.joinAll(uncached.url, fixtures.spreadConcert.id);
  const nth = (i: number) => (pairs > 1 ? ` #${i + 1}` : '');
  for (let i = 0; i < pairs; i++) {
    const [plain, keyed] = [1 + 2 * i, 2 + 2 * i].map((s) => held.slice(s * share, (s + 1) * share));
    const runs = [
      () => payOn(context, `payments, relay off${nth(i)} (${share})`, uncached, plain!),
      () => payOn(context, `payments, relay off, keyed${nth(i)} (${share})`, uncached, keyed!, { keyed: true }),
    ];
    // Every other pair runs keyed first, so that neither kind always comes second (on a warmer process).
    for (const run of i % 2 === 0 ? runs : runs.reverse()) add(await run());
  }
}
