import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { keyClaim } from '../../src/modules/idempotency/idempotency.service.js';
import { countingProxy } from '../support/counting-proxy.js';
import { bearer, createTestApp, createUser, expectProblem, type TestApp, type TestUser } from '../support/harness.js';

/**
 * A top-up with an Idempotency-Key: its answer is stored in the statement that charges, so a keyed
 * top-up costs the claim and that one statement (no transaction around them), and every promise
 * of the key still holds: the answer is replayed, a refusal is stored and replayed too, and a claim
 * that lost its key charges nothing.
 */
let t: TestApp;
let proxy: Awaited<ReturnType<typeof countingProxy>>;

beforeAll(async () => {
  proxy = await countingProxy(inject('databaseUrl'));
  t = await createTestApp({}, { databaseUrl: proxy.url });
});
afterAll(async () => {
  await t?.close();
  await proxy?.close();
});

const charge = (user: TestUser, amount: number, key: string) =>
  t.app.inject({
    method: 'POST',
    url: '/users/me/balance/charges',
    headers: { ...bearer(user.token), 'idempotency-key': key },
    payload: { amount },
  });

async function sentDuring(requests: () => Promise<void>): Promise<readonly string[]> {
  const before = proxy.statements().length;
  await requests();
  return proxy.statements().slice(before);
}

const ledgerOf = (userId: string) =>
  t.db.selectFrom('ledger_entries').select(['id', 'amount', 'balance_after']).where('user_id', '=', userId).orderBy('id').execute();
const keyOf = (userId: string, key: string) =>
  t.db.selectFrom('idempotency_keys').select(['state', 'response_status', 'response_body']).where('user_id', '=', userId).where('key', '=', key).executeTakeFirstOrThrow();

describe('a keyed top-up', () => {
  it('is the claim and one statement that charges and stores its answer, which a retry is given', async () => {
    const user = await createUser(t.app);
    await charge(user, 1, 'warm-up-key-0001'); // the bearer is looked up once, then known
    let first: Awaited<ReturnType<typeof charge>> | undefined;
    const sent = await sentDuring(async () => {
      first = await charge(user, 10_000, 'one-statement-0001');
    });
    expect(first!.statusCode).toBe(201);
    expect(sent.some((text) => /^\s*(begin|commit)/i.test(text))).toBe(false);
    expect(sent.filter((text) => /idempotency_keys/i.test(text))).toHaveLength(2); // the claim, the charge with its answer
    expect(sent).toHaveLength(2);

    const body = first!.json();
    expect(body).toMatchObject({ amount: 10_000, balance: 10_001 });
    expect(await keyOf(user.id, 'one-statement-0001')).toEqual({ state: 'DONE', response_status: 201, response_body: body });
    const again = await charge(user, 10_000, 'one-statement-0001');
    expect(again.statusCode).toBe(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(body);
    expect((await ledgerOf(user.id)).map((r) => r.amount)).toEqual([1, 10_000]);
  });

  it('past the balance limit is refused, and the refusal is stored and replayed with nothing charged', async () => {
    const user = await createUser(t.app);
    for (let i = 0; i < 100; i++) expect((await charge(user, 10_000_000, `to-the-cap-${String(i).padStart(4, '0')}`)).statusCode).toBe(201);
    expectProblem(await charge(user, 5_000, 'over-the-cap-0001'), 409, 'BALANCE_LIMIT_EXCEEDED');
    const again = await charge(user, 5_000, 'over-the-cap-0001');
    expectProblem(again, 409, 'BALANCE_LIMIT_EXCEEDED');
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect((await keyOf(user.id, 'over-the-cap-0001')).response_status).toBe(409);
    const ledger = await ledgerOf(user.id);
    expect(ledger).toHaveLength(100);
    expect(ledger.at(-1)!.balance_after).toBe(1_000_000_000);
  });

  it('whose claim no longer holds the key charges nothing and says the key is in use', async () => {
    const user = await createUser(t.app);
    const claimedAt = new Date();
    await t.db
      .insertInto('idempotency_keys')
      .values({ user_id: user.id, key: 'taken-over-0001', fingerprint: 'f', state: 'IN_PROGRESS', created_at: claimedAt, locked_until: new Date(Date.now() + 60_000) })
      .execute();
    // Claimed a millisecond earlier than the row now says: another request took the key over since.
    const lost = keyClaim({ userId: user.id, key: 'taken-over-0001', claimedAt: new Date(claimedAt.getTime() - 1), status: 201 });
    await expect(t.services.wallet.charge(user.id, 7_000, lost)).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_IN_USE' });
    expect(await ledgerOf(user.id)).toEqual([]);
    const me = await t.app.inject({ url: '/users/me', headers: bearer(user.token) });
    expect(me.json().balance).toBe(0);
    expect((await keyOf(user.id, 'taken-over-0001')).state).toBe('IN_PROGRESS');
  });
});
