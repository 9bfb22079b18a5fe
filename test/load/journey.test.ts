/**
 * One virtual user's journey against a scripted server (a fake `call`): what it retries and with
 * which key, what it does after losing a seat, when it waits for held seats and when it calls a
 * sale sold out, and which endings count as failures (unexpected errors) rather than designs.
 */
import { describe, expect, it } from 'vitest';
import { outcomeOf, type Answer, type CallOptions } from '../../load/client.js';
import { Journey } from '../../load/journey.js';
import type { Intent } from '../../load/plan.js';
import { Sale } from '../../load/sale.js';

interface Sent {
  step: string;
  method: string;
  path: string;
  options: CallOptions;
  outcome: string;
}

type Reply = { status: number; body?: unknown; code?: string };
/** The scripted server: per step, answers in order (the last one repeats); allSchedules: the unfiltered list. */
type Script = Partial<Record<string, Reply[]>>;

const seatMap = (...statuses: string[]) => ({ status: 200, body: { seats: statuses.map((status, i) => ({ number: i + 1, status })) } });

/** A sale of one date whose seats are free, every step answered as designed unless `script` says otherwise. */
function happyScript(): Script {
  return {
    signup: [{ status: 201, body: { id: 'u1', token: 't1' } }],
    topup: [{ status: 201, body: {} }],
    concerts: [{ status: 200, body: { items: [] } }],
    schedules: [{ status: 200, body: { items: [{ id: 's1' }] } }],
    allSchedules: [{ status: 200, body: { items: [{ id: 's1' }] } }],
    join: [{ status: 201, body: { token: 'q1', status: 'ACTIVE' } }],
    seats: [seatMap('AVAILABLE', 'AVAILABLE')],
    hold: [{ status: 201, body: { id: 'r1', heldUntil: new Date(Date.now() + 60_000).toISOString() } }],
    pay: [{ status: 201, body: { id: 'p1' } }],
    cancel: [{ status: 200, body: { status: 'CANCELLED' } }],
    reservation: [{ status: 200, body: { status: 'CANCELLED' } }],
    poll: [{ status: 200, body: { status: 'ACTIVE' } }],
    leave: [{ status: 204 }],
  };
}

async function runJourney(intent: Intent, script: Script) {
  const sent: Sent[] = [];
  const failures: string[] = [];
  const served: Record<string, number> = {};
  const sale = new Sale(Date.now());
  const call = async (step: string, method: string, path: string, options: CallOptions = {}): Promise<Answer> => {
    const key = step === 'schedules' && !path.includes('?available=true') ? 'allSchedules' : step;
    const replies = script[key] ?? [{ status: 500 }];
    const r = replies[Math.min(served[key] ?? 0, replies.length - 1)]!;
    served[key] = (served[key] ?? 0) + 1;
    const outcome = outcomeOf(r.status, r.code, options.expect);
    sent.push({ step, method, path, options, outcome });
    // Retry-After 0: a retry follows at once.
    return { status: r.status, body: r.body, code: r.code, retryAfterSeconds: 0, outcome };
  };
  const journey = new Journey(
    { index: 0, arriveAtMs: 0, intent, random: () => 0.5 },
    {
      call,
      sale,
      concertId: 'c1',
      price: 100,
      thinkSeconds: 0,
      holdAttempts: 3,
      deadlineMs: Date.now() + 30_000,
      onRetry: () => {},
      onFailure: (step, a) => failures.push(`${step} ${a.status} ${a.code}`),
      lookAgainMs: 0,
    },
  );
  const ending = await journey.run();
  return { ending, sent, failures, sale, steps: sent.map((s) => s.step) };
}

describe('a journey', () => {
  it('pays again with the same Idempotency-Key after a 5xx, and buys', async () => {
    const { ending, sent, sale } = await runJourney('buy', { ...happyScript(), pay: [{ status: 503, code: 'UNAVAILABLE' }, { status: 201, body: { id: 'p1' } }] });
    expect(ending).toBe('bought');
    const pays = sent.filter((s) => s.step === 'pay');
    expect(pays.map((p) => p.options.idempotencyKey)).toEqual(['pay-r1', 'pay-r1']);
    expect(sale.payments).toEqual([{ id: 'p1', reservationId: 'r1' }]);
    expect(sale.topUps.get('u1')).toBe(1);
  });

  it('reads the map again after losing a seat, and holds with a new key', async () => {
    const { ending, sent, steps } = await runJourney('buy', {
      ...happyScript(),
      hold: [{ status: 409, code: 'SEAT_UNAVAILABLE' }, { status: 201, body: { id: 'r1', heldUntil: new Date(Date.now() + 60_000).toISOString() } }],
    });
    expect(ending).toBe('bought');
    const holds = steps.flatMap((s, i) => (s === 'hold' ? [i] : []));
    expect(steps.slice(holds[0]! + 1, holds[1]!)).toContain('seats');
    expect(sent.filter((s) => s.step === 'hold').map((s) => s.options.idempotencyKey)).toEqual(['hold-1-u1', 'hold-2-u1']);
    expect(sent.find((s) => s.step === 'hold')!.outcome).toBe('expected');
  });

  it('lets an abandoned hold lapse, finds it expired, and keeps it for the invariants', async () => {
    const { ending, sale, failures } = await runJourney('abandon', {
      ...happyScript(),
      hold: [{ status: 201, body: { id: 'r9', heldUntil: new Date().toISOString() } }],
      pay: [{ status: 409, code: 'HOLD_EXPIRED' }],
    });
    expect(ending).toBe('abandoned');
    expect(sale.abandonedHolds).toEqual(['r9']);
    expect(sale.expiredHoldsPaid).toBe(0);
    expect(failures).toEqual([]);
  });

  it('waits while every free seat is held, and buys the one that comes back', async () => {
    const { ending, steps } = await runJourney('buy', {
      ...happyScript(),
      schedules: [{ status: 200, body: { items: [] } }],
      seats: [seatMap('SOLD', 'HELD'), seatMap('SOLD', 'HELD'), seatMap('SOLD', 'AVAILABLE')],
    });
    expect(ending).toBe('bought');
    expect(steps.filter((s) => s === 'seats')).toHaveLength(3);
  });

  it('calls the sale sold out only when every seat is SOLD', async () => {
    const { ending, steps } = await runJourney('buy', { ...happyScript(), schedules: [{ status: 200, body: { items: [] } }], seats: [seatMap('SOLD', 'SOLD')] });
    expect(ending).toBe('sold-out');
    expect(steps.filter((s) => s === 'seats')).toHaveLength(1);
    expect(steps).not.toContain('hold');
    expect(steps.at(-1)).toBe('leave');
  });

  it('leaves the line, sold out, when a poll says the concert is sold out, never reading a seat map', async () => {
    const waiting = { status: 'WAITING', refreshAfterSeconds: 0 };
    const { ending, steps, sale } = await runJourney('buy', {
      ...happyScript(),
      join: [{ status: 201, body: { token: 'q1', ...waiting, soldOut: false } }],
      poll: [{ status: 200, body: { token: 'q2', ...waiting, soldOut: false } }, { status: 200, body: { token: 'q3', ...waiting, soldOut: true } }],
    });
    expect(ending).toBe('sold-out');
    expect(steps.filter((s) => s === 'poll')).toHaveLength(2);
    expect(steps).not.toContain('seats');
    expect(steps.at(-1)).toBe('leave');
    expect(sale.endings).toEqual({ 'sold-out': 1 });
    expect(sale.firstToldSoldOutSecond).not.toBeNull();
  });

  it('fails on a line that answers EXPIRED, counting it as an unexpected error', async () => {
    const { ending, failures, sale } = await runJourney('buy', {
      ...happyScript(),
      join: [{ status: 201, body: { token: 'q1', status: 'WAITING', refreshAfterSeconds: 0 } }],
      poll: [{ status: 200, body: { status: 'EXPIRED' } }],
    });
    expect(ending).toBe('failed');
    expect(failures).toEqual(['poll 200 EXPIRED']);
    expect(sale.failures).toEqual({ 'poll 200 EXPIRED': 1 });
  });

  it('expects a key in use on a retry but not as the last answer', async () => {
    const { ending, sent, failures } = await runJourney('buy', { ...happyScript(), pay: [{ status: 409, code: 'IDEMPOTENCY_KEY_IN_USE' }] });
    expect(ending).toBe('failed');
    expect(sent.filter((s) => s.step === 'pay').map((s) => s.outcome)).toEqual(['unexpected', 'expected', 'expected', 'expected', 'unexpected']);
    // The recorder already counted the last answer as unexpected: not counted twice.
    expect(failures).toEqual([]);
  });

  it('takes a cancellation refused after a lost answer as done when the reservation reads CANCELLED', async () => {
    const { ending, sent, sale } = await runJourney('cancel', { ...happyScript(), cancel: [{ status: 0 }, { status: 409, code: 'RESERVATION_NOT_CANCELLABLE' }] });
    expect(ending).toBe('bought-cancelled');
    expect(sent.filter((s) => s.step === 'cancel').map((s) => s.outcome)).toEqual(['unexpected', 'expected']);
    expect(sale.cancelled).toEqual(['r1']);
  });

  it('fails a cancellation refused at once', async () => {
    const { ending, sale } = await runJourney('cancel', { ...happyScript(), cancel: [{ status: 409, code: 'RESERVATION_NOT_CANCELLABLE' }] });
    expect(ending).toBe('failed');
    expect(sale.cancelled).toEqual([]);
  });
});
