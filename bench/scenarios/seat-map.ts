/** The seat map of one 100-seat schedule, read through the hot-read cache and without it. */
import type { ScenarioContext } from './context.js';

export async function seatMapScenarios({ processes, fixtures, measure, add }: ScenarioContext): Promise<void> {
  const { service, uncached } = processes;
  const { seatMapConcert, users, tokenOf, joinAll } = fixtures;
  const seatMap = seatMapConcert.schedules[0]!.id;
  add(
    await measure('seat map (100 seats)', `${service.url}/schedules/${seatMap}/seats`, {
      requests: [{ method: 'GET', headers: { 'queue-token': tokenOf(service.url, seatMapConcert.id, users[0]!) } }],
    }),
  );
  // The same read on the instance without the cache (its waiting room is its own: join it there).
  await joinAll(uncached.url, seatMapConcert.id);
  add(
    await measure('seat map, uncached', `${uncached.url}/schedules/${seatMap}/seats`, {
      pid: uncached.pid,
      requests: [{ method: 'GET', headers: { 'queue-token': tokenOf(uncached.url, seatMapConcert.id, users[0]!) } }],
    }),
  );
}
