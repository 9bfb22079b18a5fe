// Signing up, the balance with its recent history, topping up and signing out.
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from './html.js';
import { newKey, outcomeUnknown, request, sendOnce } from './api.js';
import { dateTime, money } from './format.js';
import { useAction } from './hooks.js';

export function SignUp({ onSignedUp, fail }) {
  const [name, setName] = useState('');
  const [busy, run] = useAction(fail);
  const submit = (event) => {
    event.preventDefault();
    return run(async () => {
      const { data } = await request('/users', { method: 'POST', body: { name: name.trim() } });
      onSignedUp({ id: data.id, name: data.name, token: data.token });
    });
  };
  return html`
    <section class="card" aria-labelledby="signup-h">
      <h2 id="signup-h">Sign up to book</h2>
      <p>Pick a name; this browser remembers you until you sign out.</p>
      <form class="row" onSubmit=${submit}>
        <label for="signup-name">Your name</label>
        <input id="signup-name" name="name" required maxlength="50" autocomplete="nickname"
          value=${name} onInput=${(e) => setName(e.currentTarget.value)} />
        <button type="submit" disabled=${busy}>Sign up</button>
      </form>
    </section>`;
}

const TYPE = { CHARGE: 'Top-up', PAYMENT: 'Payment', REFUND: 'Refund' };

export function Account({ user, changes, changed, notify, fail, onSignOut }) {
  const [me, setMe] = useState(null);
  const [history, setHistory] = useState([]);
  const [amount, setAmount] = useState('100000');
  const [busy, run] = useAction(fail);
  // The top-up's Idempotency-Key, kept until the amount is edited or an answer says what happened: a
  // second press after a lost answer learns of the first top-up instead of adding the amount twice.
  const attempt = useRef(null);

  useEffect(() => {
    let stale = false;
    Promise.all([
      request('/users/me', { token: user.token }),
      request('/users/me/balance/transactions?limit=5', { token: user.token }),
    ]).then(([m, t]) => {
      if (stale) return;
      setMe(m.data);
      setHistory(t.data.items);
    }, (err) => !stale && fail(err));
    return () => {
      stale = true;
    };
  }, [user.token, changes]);

  const topUp = (event) => {
    event.preventDefault();
    const body = { amount: Number(amount) };
    attempt.current ??= newKey();
    const key = attempt.current;
    return run(async () => {
      try {
        const { data } = await sendOnce('/users/me/balance/charges', { token: user.token, body, key });
        attempt.current = null;
        notify('ok', `Added ${money(data.amount)}. Your balance is ${money(data.balance)}.`);
      } catch (err) {
        if (!outcomeUnknown(err)) attempt.current = null;
        throw err;
      } finally {
        changed();
      }
    });
  };

  return html`
    <section class="card account" aria-labelledby="account-h">
      <div class="account-head">
        <h2 id="account-h">${user.name}</h2>
        <button type="button" class="link" onClick=${onSignOut}>Sign out</button>
      </div>
      <p class="balance">Balance: <strong data-testid="balance">${me ? money(me.balance) : '…'}</strong></p>
      <form class="row" onSubmit=${topUp}>
        <label for="topup-amount">Top up (won)</label>
        <input id="topup-amount" type="number" inputmode="numeric" min="1" max="10000000" step="1" required
          value=${amount} onInput=${(e) => {
            attempt.current = null;
            setAmount(e.currentTarget.value);
          }} />
        <button type="submit" disabled=${busy}>Top up</button>
      </form>
      ${history.length > 0 &&
      html`<h3>Recent activity</h3>
        <ul class="history">
          ${history.map(
            (t) => html`<li key=${t.id}>
              <span>${TYPE[t.type] ?? t.type}</span>
              <span class=${t.amount < 0 ? 'minus' : 'plus'}>${t.amount > 0 ? '+' : '−'}${money(Math.abs(t.amount))}</span>
              <time datetime=${t.createdAt}>${dateTime(t.createdAt)}</time>
            </li>`,
          )}
        </ul>`}
    </section>`;
}
