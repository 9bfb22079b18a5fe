/** The waiting room: joins (each a new place: user x concert), status polls, and the seat map behind the gate. */
import type { Request } from '../measure.js';
import type { Instance } from '../processes.js';
import type { ScenarioContext } from './context.js';

const QUEUE_CONCERTS = 40;

/** Runs the queue scenarios on the in-process waiting room and, with Redis, on the Redis one. */
export async function queueScenarios(context: ScenarioContext): Promise<void> {
  const { service, redis } = context.processes;
  await queueOn(context, 'in-process', service);
  if (redis) await queueOn(context, 'Redis', redis);
}

async function queueOn({ processes, fixtures, measure, add }: ScenarioContext, label: string, instance: Instance): Promise<void> {
  const { users, concert, joinAll, tokenOf, seatMapConcert } = fixtures;
  const { url, pid } = instance;
  const lines = await Promise.all(Array.from({ length: QUEUE_CONCERTS }, () => concert(1, 1)));
  let j = 0;
  add(
    await measure(`queue join (${label})`, `${url}/concerts`, {
      pid,
      requests: [
        {
          method: 'POST',
          setupRequest: (req: Request) => {
            const i = j++;
            const user = users[i % users.length]!;
            const line = lines[Math.floor(i / users.length) % QUEUE_CONCERTS]!;
            return { ...req, path: `/concerts/${line.id}/queue`, headers: { authorization: `Bearer ${user.token}` } };
          },
        } as Request,
      ],
    }),
  );
  const polled = lines[0]!;
  await joinAll(url, polled.id);
  let q = 0;
  add(
    await measure(`queue status poll (${label})`, `${url}/concerts/${polled.id}/queue`, {
      pid,
      requests: [
        {
          method: 'GET',
          setupRequest: (req: Request) => {
            const user = users[q++ % users.length]!;
            return { ...req, headers: { authorization: `Bearer ${user.token}`, 'queue-token': tokenOf(url, polled.id, user) } };
          },
        } as Request,
      ],
    }),
  );
  if (url !== processes.service.url) {
    await joinAll(url, seatMapConcert.id);
    add(
      await measure(`seat map, gated (${label})`, `${url}/schedules/${seatMapConcert.schedules[0]!.id}/seats`, {
        pid,
        requests: [{ method: 'GET', headers: { 'queue-token': tokenOf(url, seatMapConcert.id, users[0]!) } }],
      }),
    );
  }
}
