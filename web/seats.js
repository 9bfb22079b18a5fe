// The seat map: a grid by number, re-read about every second with the Queue-Token alone, operable by keyboard.
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from './html.js';
import { request } from './api.js';
import { money } from './format.js';
import { useFirstProblem, usePoll } from './hooks.js';

/** Seats a row: Up and Down move by this many. */
export const ROW = 10;
/** How often the map is re-read while it is shown. */
const REFRESH_MS = 1000;

const STATUS_TEXT = { AVAILABLE: 'free', HELD: 'held by someone', SOLD: 'sold', MINE: 'held by you' };
/** A glyph beside each number, so status never rests on colour alone. */
const GLYPH = { AVAILABLE: '', HELD: '◔', SOLD: '✕', MINE: '★' };

/** Yours only while the server says the seat is HELD and your reservations say it is you who holds it. */
const statusOf = (seat, mine) => (seat.status === 'HELD' && mine.has(seat.number) ? 'MINE' : seat.status);
const describe = (seat, mine) => `Seat ${seat.number}, ${money(seat.price)}, ${STATUS_TEXT[statusOf(seat, mine)]}`;

/**
 * `mine`: seat numbers the user's reservations hold. `refresh` changes when the map must be re-read at
 * once (a hold made, lost, paid or expired). `onPick(seat)` for a free seat; `onProblem(err)` when a
 * read is refused (true: stop reading).
 *
 * The map is read with the Queue-Token alone, never the bearer: a read with the bearer would slide
 * the turn's active period, and a tab left open on the map would then keep its turn for ever.
 */
export function SeatMap({ scheduleId, queueToken, mine, refresh, onPick, onProblem }) {
  const [seats, setSeats] = useState(null);
  const [focused, setFocused] = useState(1);
  const grid = useRef(null);
  const problems = useFirstProblem();

  // A hidden tab reads nothing (on sale day thousands of them would); shown again, it reads at once.
  const [shown, setShown] = useState(0);
  useEffect(() => {
    const wake = () => !document.hidden && setShown((n) => n + 1);
    document.addEventListener('visibilitychange', wake);
    return () => document.removeEventListener('visibilitychange', wake);
  }, []);

  usePoll(async (stopped) => {
    if (document.hidden) return null;
    try {
      const { data } = await request(`/schedules/${encodeURIComponent(scheduleId)}/seats`, { queueToken });
      if (stopped()) return null;
      problems.clear();
      setSeats(data.seats);
      return REFRESH_MS;
    } catch (err) {
      if (stopped()) return null;
      const later = Math.max(REFRESH_MS * 3, (err.retryAfterSeconds ?? 0) * 1000);
      // The same problem again (still offline, still limited) is not said again.
      if (!problems.first(err)) return later;
      return onProblem(err) ? null : later;
    }
  }, [scheduleId, queueToken, refresh, shown]);

  if (!seats) return html`<p>Loading the seat map…</p>`;
  const current = Math.min(focused, seats.length);
  const move = (event) => {
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: ROW, ArrowUp: -ROW }[event.key];
    let target = step ? current + step : event.key === 'Home' ? 1 : event.key === 'End' ? seats.length : null;
    if (target === null) return;
    event.preventDefault();
    target = Math.min(seats.length, Math.max(1, target));
    setFocused(target);
    grid.current?.querySelector(`[data-seat="${target}"]`)?.focus();
  };
  const free = seats.filter((s) => s.status === 'AVAILABLE').length;
  const prices = [...new Set(seats.map((s) => s.price))].sort((a, b) => a - b);
  const focusedSeat = seats[current - 1];

  return html`
    <div class="seatmap">
      <p><strong>${free}</strong> of ${seats.length} seats free · ${prices.length === 1 ? money(prices[0]) : `${money(prices[0])} to ${money(prices.at(-1))}`} a seat</p>
      <ul class="legend" aria-label="Legend">
        ${['AVAILABLE', 'MINE', 'HELD', 'SOLD'].map(
          (s) => html`<li key=${s}><span class=${`seat s-${s.toLowerCase()}`} aria-hidden="true">${GLYPH[s] || '1'}</span>${STATUS_TEXT[s]}</li>`,
        )}
      </ul>
      <div class="seats" role="group" aria-label="Seats, ${ROW} a row" aria-describedby="seat-help" ref=${grid} onKeyDown=${move}>
        ${seats.map((seat) => {
          const status = statusOf(seat, mine);
          return html`<button key=${seat.number} type="button" data-seat=${seat.number} data-status=${status}
            class=${`seat s-${status.toLowerCase()}`} aria-label=${describe(seat, mine)}
            aria-disabled=${status !== 'AVAILABLE'} tabindex=${seat.number === current ? 0 : -1}
            onFocus=${() => setFocused(seat.number)} onClick=${() => onPick(seat, status)}>
            ${seat.number}<span class="glyph" aria-hidden="true">${GLYPH[status]}</span>
          </button>`;
        })}
      </div>
      <p id="seat-help" class="hint">Arrow keys move between seats; Enter or Space holds a free seat.</p>
      <p class="seat-info">${focusedSeat ? describe(focusedSeat, mine) : ''}</p>
    </div>`;
}
