// One concert's booking: its dates, the line, and once admitted the seat map, holds and payment.
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';
import { dateInAddress, showInAddress } from './address.js';
import { newKey, outcomeUnknown, request, sendOnce } from './api.js';
import { Dates } from './concerts.js';
import { money } from './format.js';
import { useAction } from './hooks.js';
import { Holds, holdDeadline } from './holds.js';
import { QueueStatus, useQueue } from './queue.js';
import { SeatMap } from './seats.js';

/** Refusals that end the turn: the page forgets the Queue-Token and offers to join again. */
const TURN_OVER = new Set(['QUEUE_NOT_ACTIVE', 'QUEUE_TOKEN_INVALID', 'QUEUE_TOKEN_MISMATCH']);

/** What a hold of this page became, by the server's word (a release or payment made elsewhere). */
const ENDED_AS = { CANCELLED: 'released', EXPIRED: 'expired', CONFIRMED: 'paid' };

/**
 * A hold on the page. `payKey` is the Idempotency-Key of paying for it: kept until an answer says
 * what happened, so a click after a lost answer learns the first payment's outcome instead of paying
 * (or being refused) anew. The retry goes with the Queue-Token the hold was made under: the server
 * replays a stored answer even when that turn has since ended (paying for everything ends it).
 */
const held = (reservation, answer, queueToken) => ({
  reservation,
  deadline: holdDeadline(reservation, answer),
  state: 'held',
  payKey: newKey(),
  queueToken,
});

export function Booking({ user, concertId, changes, changed, notify, fail }) {
  const queue = useQueue(user, concertId, fail);
  const [scheduleId, setScheduleId] = useState(dateInAddress);
  const [holds, setHolds] = useState([]);
  const [refresh, setRefresh] = useState(0);
  // One hold, payment or release per seat at a time: a second click while the first runs does nothing.
  const [, once] = useAction(fail);
  const token = user.token;
  const queueToken = queue.entry?.token;
  const reread = () => setRefresh((n) => n + 1);
  const update = (hold, patch) => setHolds((all) => all.map((h) => (h.reservation.id === hold.reservation.id ? { ...h, ...patch } : h)));

  /** Handles a refusal of a request made with the Queue-Token; true when the turn is over. */
  const refused = (err, context) => {
    if (TURN_OVER.has(err.code) && !(err.code === 'QUEUE_NOT_ACTIVE' && err.body.queueStatus === 'WAITING')) {
      fail(err, context);
      queue.endTurn('Your turn to book has ended. Join the line again to pick seats.');
      return true;
    }
    fail(err, context);
    return false;
  };

  const pick = (seat, status) => {
    if (status === 'MINE') return notify('ok', `You already hold seat ${seat.number}: pay for it below.`);
    if (status !== 'AVAILABLE') return notify('error', `Seat ${seat.number} is ${status === 'SOLD' ? 'sold' : 'held by someone else'}. Pick a free seat.`);
    return once(async () => {
      try {
        const answer = await sendOnce('/reservations', { token, queueToken, body: { scheduleId, seatNumber: seat.number } });
        queue.touched(answer);
        setHolds((all) => [...all.filter((h) => h.reservation.id !== answer.data.id), held(answer.data, answer, queueToken)]);
        notify('ok', `Seat ${seat.number} is held for you. Pay before the countdown ends.`);
        changed();
      } catch (err) {
        refused(err, { seat: seat.number, price: seat.price });
      } finally {
        reread();
      }
    }, `hold:${seat.number}`);
  };

  const pay = (hold) =>
    once(async () => {
      if (hold.state !== 'held') return;
      const r = hold.reservation;
      update(hold, { state: 'paying' });
      try {
        const answer = await sendOnce('/payments', {
          token,
          queueToken: queueToken ?? hold.queueToken,
          body: { reservationId: r.id },
          key: hold.payKey,
        });
        const { data } = answer;
        queue.touched(answer);
        update(hold, { state: 'paid', payment: data });
        notify('ok', `Paid ${money(data.amount)} for seat ${r.seatNumber}. Your balance is ${money(data.balance)}.`);
        changed();
        // Paying for everything held ends the turn (the server lets the next fan in).
        if (!holds.some((h) => h !== hold && h.state === 'held')) {
          queue.endTurn('You paid for every seat you held, so your turn has ended. Join the line again to book more.');
        }
      } catch (err) {
        // An answer (say INSUFFICIENT_BALANCE) is replayed for its key: paying again is a new attempt.
        update(hold, { state: err.code === 'HOLD_EXPIRED' ? 'expired' : 'held', payKey: outcomeUnknown(err) ? hold.payKey : newKey() });
        refused(err, { seat: r.seatNumber, price: r.price });
      } finally {
        reread();
      }
    }, `pay:${hold.reservation.id}`);

  const release = (hold) =>
    once(async () => {
      try {
        await request(`/reservations/${encodeURIComponent(hold.reservation.id)}`, { method: 'DELETE', token });
        update(hold, { state: 'released' });
        changed();
      } catch (err) {
        fail(err, { seat: hold.reservation.seatNumber });
      } finally {
        reread();
      }
    }, `release:${hold.reservation.id}`);

  const expired = (hold) => {
    update(hold, { state: 'expired' });
    changed();
    reread();
  };

  const active = queue.view?.status === 'ACTIVE';
  // The server's word on the user's reservations, re-read whenever anything changed anywhere on the
  // page (My reservations cancels too): holds made before a reload or in another tab are picked up
  // with their countdown (while it is the user's turn), and a hold released, paid or expired
  // elsewhere stops being shown as held here.
  useEffect(() => {
    if (!scheduleId) return undefined;
    let stale = false;
    request('/users/me/reservations?limit=50', { token }).then((answer) => {
      if (stale) return;
      const items = answer.data.items.filter((r) => r.scheduleId === scheduleId);
      const byId = new Map(items.map((r) => [r.id, r]));
      setHolds((all) => [
        ...all.map((h) => {
          const ended = h.state === 'held' && ENDED_AS[byId.get(h.reservation.id)?.status];
          return ended ? { ...h, state: ended } : h;
        }),
        ...(active ? items.filter((r) => r.status === 'HELD' && !all.some((h) => h.reservation.id === r.id)).map((r) => held(r, answer, queueToken)) : []),
      ]);
    }, fail);
    return () => {
      stale = true;
    };
  }, [active, scheduleId, changes]);
  const mine = new Set(holds.filter((h) => h.state === 'held' || h.state === 'paying').map((h) => h.reservation.seatNumber));
  return html`
    <section class="card booking" aria-labelledby="booking-h">
      <h2 id="booking-h">Book seats</h2>
      <${Dates} concertId=${concertId} scheduleId=${scheduleId} onPick=${(id) => {
        showInAddress({ concert: concertId, date: id });
        setScheduleId(id);
      }} changes=${changes} fail=${fail} />
      <${QueueStatus} queue=${queue} />
      ${active && !scheduleId && html`<p>Pick a date above to see its seats.</p>`}
      <div class="booking-grid">
        ${active &&
        scheduleId &&
        html`<${SeatMap} scheduleId=${scheduleId} queueToken=${queueToken} mine=${mine} refresh=${refresh}
          onPick=${pick} onProblem=${(err) => refused(err)} />`}
        <${Holds} holds=${holds} onPay=${pay} onRelease=${release} onExpired=${expired}
          onDismiss=${(hold) => setHolds((all) => all.filter((h) => h !== hold))} />
      </div>
    </section>`;
}
