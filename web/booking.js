// One concert's booking: its dates, the line, and once admitted the seat map, holds and payment.
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from './html.js';
import { dateInAddress, showInAddress } from './address.js';
import { request, sendOnce } from './api.js';
import { Dates } from './concerts.js';
import { money } from './format.js';
import { Holds, holdDeadline } from './holds.js';
import { QueueStatus, useQueue } from './queue.js';
import { SeatMap } from './seats.js';

/** Refusals that end the turn: the page forgets the Queue-Token and offers to join again. */
const TURN_OVER = new Set(['QUEUE_NOT_ACTIVE', 'QUEUE_TOKEN_INVALID', 'QUEUE_TOKEN_MISMATCH']);

export function Booking({ user, concertId, changes, changed, notify, fail }) {
  const queue = useQueue(user, concertId, fail);
  const [scheduleId, setScheduleId] = useState(dateInAddress);
  const [holds, setHolds] = useState([]);
  const [refresh, setRefresh] = useState(0);
  const inFlight = useRef(new Set());
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

  /** Runs `work` once per key at a time: a second click while the first is on its way does nothing. */
  const once = async (key, work) => {
    if (inFlight.current.has(key)) return;
    inFlight.current.add(key);
    try {
      await work();
    } finally {
      inFlight.current.delete(key);
    }
  };

  const pick = (seat, status) => {
    if (status === 'MINE') return notify('ok', `You already hold seat ${seat.number}: pay for it below.`);
    if (status !== 'AVAILABLE') return notify('error', `Seat ${seat.number} is ${status === 'SOLD' ? 'sold' : 'held by someone else'}. Pick a free seat.`);
    return once(`hold:${seat.number}`, async () => {
      try {
        const answer = await sendOnce('/reservations', { token, queueToken, body: { scheduleId, seatNumber: seat.number } });
        const reservation = answer.data;
        setHolds((all) => [...all, { reservation, deadline: holdDeadline(reservation, answer), state: 'held' }]);
        notify('ok', `Seat ${seat.number} is held for you. Pay before the countdown ends.`);
        changed();
      } catch (err) {
        refused(err, { seat: seat.number, price: seat.price });
      } finally {
        reread();
      }
    });
  };

  const pay = (hold) =>
    once(`pay:${hold.reservation.id}`, async () => {
      if (hold.state !== 'held') return;
      const r = hold.reservation;
      update(hold, { state: 'paying' });
      try {
        const { data } = await sendOnce('/payments', { token, queueToken, body: { reservationId: r.id } });
        update(hold, { state: 'paid', payment: data });
        notify('ok', `Paid ${money(data.amount)} for seat ${r.seatNumber}. Your balance is ${money(data.balance)}.`);
        changed();
        // Paying for everything held ends the turn (the server lets the next fan in).
        if (!holds.some((h) => h !== hold && h.state === 'held')) {
          queue.endTurn('You paid for every seat you held, so your turn has ended. Join the line again to book more.');
        }
      } catch (err) {
        update(hold, { state: err.code === 'HOLD_EXPIRED' ? 'expired' : 'held' });
        refused(err, { seat: r.seatNumber, price: r.price });
      } finally {
        reread();
      }
    });

  const release = (hold) =>
    once(`release:${hold.reservation.id}`, async () => {
      try {
        await request(`/reservations/${encodeURIComponent(hold.reservation.id)}`, { method: 'DELETE', token });
        update(hold, { state: 'released' });
        changed();
      } catch (err) {
        fail(err, { seat: hold.reservation.seatNumber });
      } finally {
        reread();
      }
    });

  const expired = (hold) => {
    update(hold, { state: 'expired' });
    changed();
    reread();
  };

  const active = queue.view?.status === 'ACTIVE';
  // Holds made before a reload, or in another tab, are picked up again with their countdown.
  useEffect(() => {
    if (!active || !scheduleId) return undefined;
    let stale = false;
    request('/users/me/reservations?limit=50', { token }).then((answer) => {
      if (stale) return;
      const held = answer.data.items.filter((r) => r.status === 'HELD' && r.scheduleId === scheduleId);
      setHolds((all) => [
        ...all,
        ...held
          .filter((r) => !all.some((h) => h.reservation.id === r.id))
          .map((reservation) => ({ reservation, deadline: holdDeadline(reservation, answer), state: 'held' })),
      ]);
    }, fail);
    return () => {
      stale = true;
    };
  }, [active, scheduleId]);
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
        html`<${SeatMap} user=${user} scheduleId=${scheduleId} queueToken=${queueToken} mine=${mine} refresh=${refresh}
          onPick=${pick} onProblem=${(err) => refused(err)} />`}
        <${Holds} holds=${holds} onPay=${pay} onRelease=${release} onExpired=${expired}
          onDismiss=${(hold) => setHolds((all) => all.filter((h) => h !== hold))} />
      </div>
    </section>`;
}
