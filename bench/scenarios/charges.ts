/** Top-ups: each request charges one user's balance by 1, round robin over the users. */
import type { Request } from '../measure.js';
import type { ScenarioContext } from './context.js';

export async function chargeScenarios({ processes, fixtures, measure, add }: ScenarioContext): Promise<void> {
  const { users, auth } = fixtures;
  let ch = 0;
  add(
    await measure('charges', `${processes.service.url}/users/me/balance/charges`, {
      requests: [
        {
          method: 'POST',
          setupRequest: (req: Request) => ({ ...req, headers: auth(users[ch++ % users.length]!), body: JSON.stringify({ amount: 1 }) }),
        } as Request,
      ],
    }),
  );
}
