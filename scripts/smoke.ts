/**
 * Smoke test of a running service over HTTP, as a newcomer would try it: a user tops up, waits
 * their turn in the waiting room, holds a seat of a demo concert and pays for it. Usage: tsx scripts/smoke.ts http://127.0.0.1:3000
 */
const base = process.argv[2] ?? 'http://127.0.0.1:3000';

async function call(method: string, path: string, body?: unknown, token?: string, queueToken?: string) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(body ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(queueToken ? { 'queue-token': queueToken } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  console.log(`${method} ${path} -> ${res.status}`);
  if (res.status >= 400) throw new Error(`${method} ${path} failed: ${res.status} ${text}`);
  return JSON.parse(text);
}

const ready = await call('GET', '/health/ready');
if (ready.status !== 'ok') throw new Error('service not ready');
// The booking page and every file it names (a fresh install has what it imports).
const page = await fetch(`${base}/`);
const html = await page.text();
console.log(`GET / -> ${page.status}`);
if (page.status !== 200 || !html.includes('<script type="importmap">')) throw new Error(`the booking page is not served: ${page.status}`);
for (const [, path] of html.matchAll(/"(\/(?:assets|vendor)\/[^"]+)"/g)) {
  const file = await fetch(`${base}${path}`);
  if (file.status !== 200) throw new Error(`GET ${path} failed: ${file.status}`);
}
const concerts = await call('GET', '/concerts');
if (concerts.items.length === 0) throw new Error('no demo concerts on a fresh start');
const concert = await call('GET', `/concerts/${concerts.items[0].id}`);
const schedule = concert.schedules[0];
const user = await call('POST', '/users', { name: 'smoke' });
await call('POST', '/users/me/balance/charges', { amount: schedule.price }, user.token);
let place = await call('POST', `/concerts/${concert.id}/queue`, undefined, user.token);
for (let i = 0; place.status === 'WAITING' && i < 30; i++) {
  await new Promise((r) => setTimeout(r, 1_000));
  place = await call('GET', `/concerts/${concert.id}/queue`, undefined, user.token, place.token);
}
if (place.status !== 'ACTIVE') throw new Error(`not admitted from the waiting room: ${JSON.stringify(place)}`);
const seats = await call('GET', `/schedules/${schedule.id}/seats`, undefined, undefined, place.token);
const free = seats.seats.find((s: { status: string }) => s.status === 'AVAILABLE');
const reservation = await call('POST', '/reservations', { scheduleId: schedule.id, seatNumber: free.number }, user.token, place.token);
const payment = await call('POST', '/payments', { reservationId: reservation.id }, user.token, place.token);
if (payment.status !== 'PAID' || payment.balance !== 0) throw new Error(`unexpected payment ${JSON.stringify(payment)}`);
const left = await call('GET', `/concerts/${concert.id}/queue`, undefined, user.token, place.token);
if (left.status !== 'EXPIRED') throw new Error('a payer holding nothing else should have left the waiting room');
const again = await call('POST', `/concerts/${concert.id}/queue`, undefined, user.token);
const after = await call('GET', `/schedules/${schedule.id}/seats`, undefined, undefined, again.token);
if (after.seats.find((s: { number: number }) => s.number === free.number).status !== 'SOLD') throw new Error('seat not SOLD');
console.log(`smoke ok: seat ${free.number} of "${concert.title}" held and paid`);
