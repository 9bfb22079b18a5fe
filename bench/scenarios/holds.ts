/** Holds: spread over many seats (with and without an Idempotency-Key each), and contended for ten seats. */
import type { BenchUser } from '../fixtures.js';
import type { Request } from '../measure.js';
import type { ScenarioContext } from './context.js';

/** A hold that succeeded, kept for the payment scenarios. */
export interface Held {
  id: string;
  user: BenchUser;
}

/** Runs the hold scenarios and returns the holds they made, in the order they were answered. */
export async function holdScenarios({ processes, fixtures, measure, add }: ScenarioContext): Promise<Held[]> {
  const { users, booking, spreadConcert, contendedConcert } = fixtures;
  const spread = spreadConcert.schedules.map((s) => s.id);
  const contended = contendedConcert.schedules[0]!.id;
  const url = `${processes.service.url}/reservations`;
  const held: Held[] = [];

  // Holds spread over 100 schedules x 1000 seats; request k takes seat k, user k mod N (1 seat per user per schedule).
  let k = 0;
  const spreadHolds = (label: string, keyed: boolean) =>
    measure(label, url, {
      requests: [
        {
          method: 'POST',
          setupRequest: (req: Request, context: Record<string, unknown>) => {
            const i = k++;
            const user = users[i % users.length]!;
            context.user = user;
            return {
              ...req,
              headers: { ...booking(user, spreadConcert.id), ...(keyed ? { 'idempotency-key': `bench-hold-${i}` } : {}) },
              body: JSON.stringify({ scheduleId: spread[Math.floor(i / 1_000) % spread.length], seatNumber: (i % 1_000) + 1 }),
            };
          },
          onResponse: (status: number, body: string, context: Record<string, unknown>) => {
            if (status === 201) held.push({ id: JSON.parse(body).id, user: context.user as BenchUser });
          },
        } as Request,
      ],
    });
  add(await spreadHolds('holds, spread', false));
  // What a careful client sends: each hold with its own Idempotency-Key (claimed, then batched with
  // the others; the statement that holds the seat also stores the answer).
  add(await spreadHolds('holds, spread, keyed', true));

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
