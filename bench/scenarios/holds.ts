/** Holds: spread over many seats (with and without an Idempotency-Key each), and contended for ten seats. */
import type { BenchConcert, BenchUser } from '../fixtures.js';
import type { Measured, Request } from '../measure.js';
import type { Instance } from '../processes.js';
import type { ScenarioContext } from './context.js';

/** A hold that succeeded, kept for the payment scenarios. */
export interface Held {
  id: string;
  user: BenchUser;
}

/**
 * Measures holds spread over `concert`'s schedules of 1,000 seats on `instance`: request k takes seat
 * k, user k mod N (1 seat per user per schedule), with its own Idempotency-Key when `keyed`; the holds
 * made are added to `held`. Starts at request `from` (a second run on the same concert goes on
 * where the first stopped) and answers the next request's number with the measurement.
 */
export async function spreadHolds(
  { fixtures, measure }: Pick<ScenarioContext, 'fixtures' | 'measure'>,
  label: string,
  on: { instance: Instance; concert: BenchConcert; held: Held[]; from?: number; keyed?: boolean },
): Promise<{ measured: Measured; next: number }> {
  const { users, booking } = fixtures;
  const schedules = on.concert.schedules.map((s) => s.id);
  let k = on.from ?? 0;
  const measured = await measure(label, `${on.instance.url}/reservations`, {
    pid: on.instance.pid,
    requests: [
      {
        method: 'POST',
        setupRequest: (req: Request, context: Record<string, unknown>) => {
          const i = k++;
          const user = users[i % users.length]!;
          context.user = user;
          return {
            ...req,
            headers: { ...booking(user, on.concert.id, on.instance.url), ...(on.keyed ? { 'idempotency-key': `bench-hold-${on.concert.id}-${i}` } : {}) },
            body: JSON.stringify({ scheduleId: schedules[Math.floor(i / 1_000) % schedules.length], seatNumber: (i % 1_000) + 1 }),
          };
        },
        onResponse: (status: number, body: string, context: Record<string, unknown>) => {
          if (status === 201) on.held.push({ id: JSON.parse(body).id, user: context.user as BenchUser });
        },
      } as Request,
    ],
  });
  return { measured, next: k };
}

/** Runs the hold scenarios and returns the holds they made, in the order they were answered. */
export async function holdScenarios({ processes, fixtures, measure, add }: ScenarioContext): Promise<Held[]> {
  const { users, booking, spreadConcert, contendedConcert } = fixtures;
  const contended = contendedConcert.schedules[0]!.id;
  const url = `${processes.service.url}/reservations`;
  const held: Held[] = [];

  // Holds spread over 100 schedules x 1000 seats, unkeyed then keyed, the second run going on where the first stopped.
  const on = { instance: processes.service, concert: spreadConcert, held };
  const plain = await spreadHolds({ fixtures, measure }, 'holds, spread', on);
  add(plain.measured);
  // What a careful client sends: each hold with its own Idempotency-Key (claimed, then batched with
  // the others; the statement that holds the seat also stores the answer).
  add((await spreadHolds({ fixtures, measure }, 'holds, spread, keyed', { ...on, from: plain.next, keyed: true })).measured);

  let c = 0;
  add(
    await measure('holds, contended (10)', url, {
      requests: [
        {
          method: 'POST',
          setupRequest: (req: Request) => {
            const i = c++;
            const user = users[i % users.length]!;
            return { ...req, headers: booking(user, contendedConcert.id), body: JSON.stringify({ scheduleId: contended, seatNumber: (i % 10) + 1 }) };
          },
        } as Request,
      ],
    }),
  );
  return held;
}
