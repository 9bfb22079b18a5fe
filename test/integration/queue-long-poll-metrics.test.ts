import { afterAll, beforeAll, expect, it } from 'vitest';
import { bearer, createConcert, createTestApp, createUser, type TestApp } from '../support/harness.js';
import { join } from '../support/queue-requests.js';

/**
 * A held line poll's wait is not latency: http_request_duration_seconds gets the time spent
 * answering it (so latency panels and alerts are not pulled up by polls held 30 s), and the hold
 * itself goes to queue_long_poll_held_seconds.
 */
const WAIT_SECONDS = 2;
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ QUEUE_MAX_ACTIVE: '1', QUEUE_ADMIT_PER_SECOND: '1000' });
});
afterAll(() => t.close());

const sample = (metrics: string, series: string): number => {
  const line = metrics.split('\n').find((l) => l.startsWith(`${series} `));
  if (!line) throw new Error(`no sample ${series}`);
  return Number(line.slice(series.length + 1));
};

it('records a held poll without its hold in http_request_duration_seconds, and the hold apart', async () => {
  const concert = await createConcert(t);
  const first = await createUser(t.app);
  const second = await createUser(t.app);
  await join(t, first, concert.id);
  const token = (await join(t, second, concert.id)).json().token as string;
  const res = await t.app.inject({ url: `/concerts/${concert.id}/queue?wait=${WAIT_SECONDS}`, headers: { ...bearer(second.token), 'queue-token': token } });
  expect(res.json()).toMatchObject({ status: 'WAITING' }); // held the whole wait: nobody was admitted
  expect(String(res.headers['server-timing'])).toMatch(/^held;dur=\d+$/);

  const metrics = (await t.app.inject({ url: '/metrics' })).body;
  const route = 'method="GET",route="/concerts/:concertId/queue",status="200"';
  expect(sample(metrics, `http_request_duration_seconds_count{${route}}`)).toBe(1);
  // Held at least the wait it asked for; the request's own time is what is left, far less.
  expect(sample(metrics, 'queue_long_poll_held_seconds_count')).toBe(1);
  expect(sample(metrics, 'queue_long_poll_held_seconds_sum')).toBeGreaterThanOrEqual(WAIT_SECONDS - 0.01);
  expect(sample(metrics, `http_request_duration_seconds_sum{${route}}`)).toBeLessThan(WAIT_SECONDS);
});
