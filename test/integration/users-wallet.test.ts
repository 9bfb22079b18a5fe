import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, charge, createTestApp, createUser, expectProblem, invariants, type TestApp } from '../support/harness.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

describe('users', () => {
  it('registers a user and shows the token only once', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/users', payload: { name: 'Ji-woo' } });
    expect(res.statusCode).toBe(201);
    const user = res.json();
    expect(user).toEqual({ id: expect.any(String), name: 'Ji-woo', token: expect.any(String) });

    const me = await t.app.inject({ url: '/users/me', headers: bearer(user.token) });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toEqual({ id: user.id, name: 'Ji-woo', balance: 0 });
    expect(me.body).not.toContain(user.token);
  });

  it('stores only a hash of the token', async () => {
    const user = await createUser(t.app);
    const row = await t.db.selectFrom('users').select('token_hash').where('id', '=', user.id).executeTakeFirstOrThrow();
    expect(row.token_hash).not.toContain(user.token);
    expect(row.token_hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    [{}, '/body/name'],
    [{ name: '' }, '/body/name'],
    [{ name: 'x'.repeat(51) }, '/body/name'],
    [{ name: 42 }, '/body/name'],
  ])('refuses a bad name %j', async (payload, path) => {
    const res = await t.app.inject({ method: 'POST', url: '/users', payload });
    const body = expectProblem(res, 400, 'VALIDATION_FAILED');
    expect(body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
  });

  it('refuses missing, malformed and unknown bearer tokens', async () => {
    expectProblem(await t.app.inject({ url: '/users/me' }), 401, 'UNAUTHENTICATED');
    expectProblem(await t.app.inject({ url: '/users/me', headers: { authorization: 'Basic abc' } }), 401, 'UNAUTHENTICATED');
    expectProblem(await t.app.inject({ url: '/users/me', headers: bearer('tk_nope') }), 401, 'UNAUTHENTICATED');
  });
});

describe('balance', () => {
  it('charges, reports the new balance and records the ledger', async () => {
    const user = await createUser(t.app);
    const first = await charge(t.app, user, 30_000);
    expect(first.statusCode).toBe(201);
    expect(first.json()).toEqual({ id: expect.any(String), amount: 30_000, balance: 30_000 });
    expect((await charge(t.app, user, 12_345)).json().balance).toBe(42_345);

    const balance = await t.app.inject({ url: '/users/me/balance', headers: bearer(user.token) });
    expect(balance.json()).toEqual({ balance: 42_345 });

    const tx = (await t.app.inject({ url: '/users/me/balance/transactions', headers: bearer(user.token) })).json();
    expect(tx.items.map((i: { amount: number; balanceAfter: number; type: string }) => [i.type, i.amount, i.balanceAfter])).toEqual([
      ['CHARGE', 12_345, 42_345],
      ['CHARGE', 30_000, 30_000],
    ]);
    expect(tx.nextCursor).toBeNull();
    expect(await invariants.balancesNotMatchingLedger(t.db, [user.id])).toEqual([]);
  });

  it('writes a balance.charged event in the same transaction', async () => {
    const user = await createUser(t.app);
    await charge(t.app, user, 7_000);
    const events = await t.db.selectFrom('outbox').selectAll().where('aggregate_id', '=', user.id).execute();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'balance.charged', version: 1, payload: { userId: user.id, amount: 7_000, balance: 7_000 } });
  });

  it.each([0, -5, 10_000_001, 1.5, '100', null])('refuses amount %j and changes nothing', async (amount) => {
    const user = await createUser(t.app);
    const res = await t.app.inject({
      method: 'POST',
      url: '/users/me/balance/charges',
      headers: bearer(user.token),
      payload: { amount },
    });
    expectProblem(res, 400, 'VALIDATION_FAILED');
    const me = await t.app.inject({ url: '/users/me', headers: bearer(user.token) });
    expect(me.json().balance).toBe(0);
  });

  it('refuses a charge that would pass 1,000,000,000 and keeps the balance', async () => {
    const user = await createUser(t.app);
    for (let i = 0; i < 100; i++) expect((await charge(t.app, user, 10_000_000)).statusCode).toBe(201);
    const body = expectProblem(await charge(t.app, user, 1), 409, 'BALANCE_LIMIT_EXCEEDED');
    expect(body.detail).toMatch(/1000000000/);
    const me = await t.app.inject({ url: '/users/me', headers: bearer(user.token) });
    expect(me.json().balance).toBe(1_000_000_000);
  });

  it('pages the ledger newest first with an opaque cursor', async () => {
    const user = await createUser(t.app);
    for (const amount of [1, 2, 3, 4, 5]) await charge(t.app, user, amount);
    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const url: string = `/users/me/balance/transactions?limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await t.app.inject({ url, headers: bearer(user.token) });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      seen.push(...body.items.map((i: { amount: number }) => i.amount));
      cursor = body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([5, 4, 3, 2, 1]);
  });

  it('refuses bad paging parameters', async () => {
    const user = await createUser(t.app);
    for (const query of ['limit=0', 'limit=101', 'limit=abc', 'cursor=zzz']) {
      expectProblem(await t.app.inject({ url: `/users/me/balance/transactions?${query}`, headers: bearer(user.token) }), 400, 'VALIDATION_FAILED');
    }
  });
});

describe('idempotent charges', () => {
  it('replays the first answer for the same key and body, charging once', async () => {
    const user = await createUser(t.app);
    const first = await charge(t.app, user, 10_000, 'charge-key-0001');
    const again = await charge(t.app, user, 10_000, 'charge-key-0001');
    expect(again.statusCode).toBe(201);
    expect(again.json()).toEqual(first.json());
    expect(again.headers['idempotent-replayed']).toBe('true');
    const me = await t.app.inject({ url: '/users/me', headers: bearer(user.token) });
    expect(me.json().balance).toBe(10_000);
  });

  it('refuses the same key with another body (422) and keys of the wrong length (400)', async () => {
    const user = await createUser(t.app);
    await charge(t.app, user, 10_000, 'charge-key-0002');
    expectProblem(await charge(t.app, user, 20_000, 'charge-key-0002'), 422, 'IDEMPOTENCY_KEY_MISMATCH');
    expectProblem(await charge(t.app, user, 20_000, 'short'), 400, 'VALIDATION_FAILED');
    expectProblem(await charge(t.app, user, 20_000, 'k'.repeat(256)), 400, 'VALIDATION_FAILED');
    const me = await t.app.inject({ url: '/users/me', headers: bearer(user.token) });
    expect(me.json().balance).toBe(10_000);
  });

  it('scopes keys to the user', async () => {
    const a = await createUser(t.app);
    const b = await createUser(t.app);
    expect((await charge(t.app, a, 1_000, 'shared-key-0001')).json().balance).toBe(1_000);
    expect((await charge(t.app, b, 2_000, 'shared-key-0001')).json().balance).toBe(2_000);
  });

  it('stores nothing for a request that fails validation', async () => {
    const user = await createUser(t.app);
    await t.app.inject({
      method: 'POST',
      url: '/users/me/balance/charges',
      headers: { ...bearer(user.token), 'idempotency-key': 'invalid-body-key' },
      payload: { amount: -1 },
    });
    expect((await charge(t.app, user, 500, 'invalid-body-key')).statusCode).toBe(201);
  });
});
