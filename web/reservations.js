// My reservations: held, confirmed, cancelled, expired; cancel one with the refund said out loud.
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';
import { request } from './api.js';
import { concertById } from './catalog.js';
import { dateTime, money, timeOfDay } from './format.js';
import { useAction } from './hooks.js';

const STATUS = { HELD: 'Held', CONFIRMED: 'Confirmed', CANCELLED: 'Cancelled', EXPIRED: 'Expired' };

/**
 * On signing out: releases every seat the user holds, so it goes to others at once (the bearer token
 * is forgotten with the user: nobody could pay for those holds any more). Paid seats are kept.
 */
export async function releaseAllHolds(user) {
  const { data } = await request('/users/me/reservations?limit=100', { token: user.token });
  const held = data.items.filter((r) => r.status === 'HELD');
  await Promise.all(held.map((r) => request(`/reservations/${encodeURIComponent(r.id)}`, { method: 'DELETE', token: user.token })));
}

function Reservation({ r, concert, refund, onCancel, fail }) {
  const [asking, setAsking] = useState(false);
  // A second "Yes, cancel" while the first runs does nothing (it would be refused: already cancelled).
  const [busy, run] = useAction(fail);
  const schedule = concert?.schedules.find((s) => s.id === r.scheduleId);
  const cancellable = r.status === 'HELD' || (r.status === 'CONFIRMED' && (!schedule || Date.parse(schedule.startsAt) > Date.now()));
  return html`<li class=${`reservation r-${r.status.toLowerCase()}`}>
    <div>
      <strong>${concert?.title ?? 'Concert'}</strong>
      <span>${schedule ? dateTime(schedule.startsAt) : ''} · seat ${r.seatNumber} · ${money(r.price)}</span>
    </div>
    <p class="status">
      <span class="badge">${STATUS[r.status] ?? r.status}</span>
      ${r.status === 'HELD' && html` until ${timeOfDay(r.heldUntil)}`}
      ${r.status === 'CANCELLED' && refund ? html` · ${money(refund)} refunded` : ''}
    </p>
    ${cancellable &&
    (asking
      ? html`<div class="row confirm" role="group" aria-label="Confirm the cancellation">
          <span>${r.status === 'CONFIRMED' ? `Cancel and refund ${money(r.price)}?` : 'Release this hold?'}</span>
          <button type="button" disabled=${busy} onClick=${() => run(() => onCancel(r).finally(() => setAsking(false)))}>Yes, cancel</button>
          <button type="button" class="secondary" disabled=${busy} onClick=${() => setAsking(false)}>Keep it</button>
        </div>`
      : html`<button type="button" class="secondary" onClick=${() => setAsking(true)}>Cancel…</button>`)}
  </li>`;
}

export function Reservations({ user, changes, changed, notify, fail }) {
  const [items, setItems] = useState(null);
  const [concerts, setConcerts] = useState({});
  const [refunds, setRefunds] = useState({});

  useEffect(() => {
    let stale = false;
    request('/users/me/reservations?limit=50', { token: user.token }).then(async ({ data }) => {
      if (stale) return;
      setItems(data.items);
      const ids = [...new Set(data.items.map((r) => r.concertId))];
      const found = await Promise.all(ids.map((id) => concertById(id).catch(() => null)));
      if (!stale) setConcerts(Object.fromEntries(ids.map((id, i) => [id, found[i]])));
    }, (err) => !stale && fail(err));
    return () => {
      stale = true;
    };
  }, [user.token, changes]);

  const cancel = async (r) => {
    try {
      const { data } = await request(`/reservations/${encodeURIComponent(r.id)}`, { method: 'DELETE', token: user.token });
      if (r.status === 'CONFIRMED') {
        setRefunds((all) => ({ ...all, [data.id]: data.price }));
        notify('ok', `Cancelled seat ${data.seatNumber}. ${money(data.price)} was refunded to your balance.`);
      } else {
        notify('ok', `Released your hold on seat ${data.seatNumber}.`);
      }
      changed();
    } catch (err) {
      fail(err, { seat: r.seatNumber });
      changed();
    }
  };

  return html`
    <section class="card my-reservations" aria-labelledby="reservations-h">
      <h2 id="reservations-h">My reservations</h2>
      ${items === null && html`<p>Loading…</p>`}
      ${items?.length === 0 && html`<p>No reservations yet.</p>`}
      <ul class="reservations">
        ${(items ?? []).map(
          (r) => html`<${Reservation} key=${r.id} r=${r} concert=${concerts[r.concertId]} refund=${refunds[r.id]} onCancel=${cancel} fail=${fail} />`,
        )}
      </ul>
    </section>`;
}
