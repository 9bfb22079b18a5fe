/**
 * A small booking over HTTP that touches every series the dashboards and alerts read: users, a
 * line with some waiting, holds (one refused), payments (one replayed, two refused), a hold that
 * expires, a released hold and a refund, seat-map reads fresh and stale, readiness probes.
 */
export interface Booking {
  base: string;
  adminToken: string;
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

async function call(b: Booking, method: string, path: string, opts: { token?: string; queueToken?: string; body?: unknown; key?: string } = {}) {
  const res = await fetch(b.base + path, {
    method,
    headers: {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.queueToken ? { 'queue-token': opts.queueToken } : {}),
      ...(opts.key ? { 'idempotency-key': opts.key } : {}),
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Record<string, any> };
}

/** Fails loudly when an answer is not the expected status: a silent workload would leave panels empty. */
async function expectStatus(status: number, answer: Promise<{ status: number; body: Record<string, any> }>) {
  const res = await answer;
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Runs the booking; the service runs with QUEUE_MAX_ACTIVE=4 and HOLD_TTL_SECONDS=2. */
export async function bookingWorkload(b: Booking): Promise<void> {
  const concert = await expectStatus(201, call(b, 'POST', '/admin/concerts', {
    token: b.adminToken,
    body: {
      title: 'Metrics Night', artist: 'The Scrapers', venue: 'Loopback Hall',
      schedules: [0, 1].map((d) => ({ startsAt: new Date(Date.now() + (7 + d) * 86_400_000).toISOString(), seatCount: 20, price: 50_000 })),
    },
  }));
  const [schedule, quiet] = concert.schedules.map((s: { id: string }) => s.id) as [string, string];

  const users: { token: string; queueToken: string }[] = [];
  for (let i = 0; i < 6; i++) {
    const { token } = await expectStatus(201, call(b, 'POST', '/users', { body: { name: `fan-${i}` } }));
    await expectStatus(201, call(b, 'POST', '/users/me/balance/charges', { token, body: { amount: i === 3 ? 1_000 : 200_000 } }));
    const entry = await call(b, 'POST', `/concerts/${concert.id}/queue`, { token });
    users.push({ token, queueToken: entry.body.token });
  }
  // The first four are admitted by the next admission pass; the last two keep waiting.
  for (const u of users.slice(0, 4)) {
    for (let tries = 0; ; tries++) {
      const { body } = await call(b, 'GET', `/concerts/${concert.id}/queue`, { token: u.token, queueToken: u.queueToken });
      if (body.status === 'ACTIVE') break;
      if (tries > 50) throw new Error(`not admitted: ${JSON.stringify(body)}`);
      await sleep(100);
    }
  }
  const [paid, released, expired, poor] = users as [typeof users[0], typeof users[0], typeof users[0], typeof users[0]];
  const as = (u: typeof paid) => ({ token: u.token, queueToken: u.queueToken });
  const hold = (u: typeof paid, seatNumber: number, status = 201) =>
    expectStatus(status, call(b, 'POST', '/reservations', { ...as(u), body: { scheduleId: schedule, seatNumber } }));
  const pay = (u: typeof paid, reservationId: string, status: number, key?: string) =>
    expectStatus(status, call(b, 'POST', '/payments', { ...as(u), body: { reservationId }, key }));

  const first = await hold(paid, 1);
  await hold(released, 1, 409); // SEAT_UNAVAILABLE
  await pay(paid, first.id, 201, 'pay-first');
  await pay(paid, first.id, 201, 'pay-first'); // replayed
  await expectStatus(200, call(b, 'DELETE', `/reservations/${first.id}`, { token: paid.token })); // refunded
  const second = await hold(released, 2);
  await expectStatus(200, call(b, 'DELETE', `/reservations/${second.id}`, { token: released.token })); // released
  const poorHold = await hold(poor, 4);
  await pay(poor, poorHold.id, 409); // INSUFFICIENT_BALANCE
  const late = await hold(expired, 3);
  await pay(expired, (await hold(expired, 5)).id, 201);
  await sleep(3_000); // past HOLD_TTL_SECONDS: the sweeper expires the hold
  const refused = await call(b, 'POST', '/payments', { ...as(expired), body: { reservationId: late.id } });
  if (refused.status < 400) throw new Error(`paid an expired hold: ${JSON.stringify(refused.body)}`);

  // Seat maps: a miss, a hit, then a stale answer once the fresh period (500 ms) has passed.
  for (const pause of [0, 0, 700, 0]) {
    await sleep(pause);
    await expectStatus(200, call(b, 'GET', `/schedules/${quiet}/seats`, as(released)));
  }
  await expectStatus(200, call(b, 'GET', '/concerts'));
  for (let i = 0; i < 3; i++) await call(b, 'GET', '/health/ready');
}
