// The seats this page holds: a countdown to each hold's end, pay (once, whatever is clicked), release.
import { useEffect } from 'preact/hooks';
import { html } from './html.js';
import { countdown, money } from './format.js';
import { useNow } from './hooks.js';

/**
 * When a hold ends on the page's monotonic clock (see hooks.js `useNow`): the time left at the
 * server's answer (heldUntil minus a lower bound of the server's clock then) after the moment the
 * answer arrived. Never before the server's own expiry, whatever this device's clock says or does.
 */
export function holdDeadline(reservation, { receivedAt, serverNow }) {
  const serverAtAnswer = Math.max(serverNow, Date.parse(reservation.createdAt));
  return receivedAt + (Date.parse(reservation.heldUntil) - serverAtAnswer);
}

function HoldCard({ hold, now, onPay, onRelease, onExpired, onDismiss }) {
  const { reservation: r, state } = hold;
  const left = hold.deadline - now;
  useEffect(() => {
    if (state === 'held' && left <= 0) onExpired(hold);
  }, [state, left <= 0]);
  const seat = `seat ${r.seatNumber}`;
  if (state === 'paid') {
    return html`<li class="hold paid"><div role="status">
      <h4>Booked: ${seat}</h4>
      <p>${hold.payment
        ? `Payment confirmed: ${money(hold.payment.amount)} charged, your balance is now ${money(hold.payment.balance)}.`
        : 'Payment confirmed.'}
        It is listed under My reservations.</p>
      <button type="button" class="link" onClick=${() => onDismiss(hold)}>Dismiss</button>
    </div></li>`;
  }
  if (state === 'expired' || state === 'released') {
    return html`<li class="hold ended"><div role="status">
      <p>${state === 'expired' ? `Your hold on ${seat} expired. The seat is free again.` : `You released ${seat}.`}</p>
      <button type="button" class="link" onClick=${() => onDismiss(hold)}>Dismiss</button>
    </div></li>`;
  }
  const paying = state === 'paying';
  return html`<li class="hold">
    <h4>Held for you: ${seat}, ${money(r.price)}</h4>
    <p class="countdown">Time left to pay: <strong><time data-testid="countdown">${countdown(left)}</time></strong></p>
    <div class="row">
      <button type="button" disabled=${paying} aria-disabled=${paying} onClick=${() => onPay(hold)}>
        ${paying ? 'Paying…' : `Pay ${money(r.price)}`}
      </button>
      <button type="button" class="secondary" disabled=${paying} onClick=${() => onRelease(hold)}>Release</button>
    </div>
  </li>`;
}

export function Holds({ holds, ...actions }) {
  const running = holds.some((h) => h.state === 'held' || h.state === 'paying');
  const now = useNow(250, running);
  if (holds.length === 0) return null;
  return html`<section class="holds" aria-labelledby="holds-h">
    <h3 id="holds-h">Your seats</h3>
    <ul>${holds.map((hold) => html`<${HoldCard} key=${hold.reservation.id} hold=${hold} now=${now} ...${actions} />`)}</ul>
  </section>`;
}
