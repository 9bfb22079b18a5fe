// The waiting room: join, your place refreshed on the server's cadence, leave; the Queue-Token kept per concert.
import { useRef, useState } from 'preact/hooks';
import { html } from './html.js';
import { request } from './api.js';
import { aboutSeconds, timeOfDay } from './format.js';
import { useAction, usePoll, useFirstProblem } from './hooks.js';

const storeKey = (user, concertId) => `ticketing.queue.${user.id}.${concertId}`;
const read = (key) => {
  try {
    return JSON.parse(localStorage.getItem(key) ?? 'null');
  } catch {
    return null;
  }
};

/** On signing out: leaves every line this browser is in for the user, so the places go to others at once. */
export function leaveAllLines(user) {
  const prefix = `ticketing.queue.${user.id}.`;
  for (const key of Object.keys(localStorage).filter((k) => k.startsWith(prefix))) {
    const entry = read(key);
    const concertId = key.slice(prefix.length);
    if (entry?.token) {
      request(`/concerts/${encodeURIComponent(concertId)}/queue`, { method: 'DELETE', token: user.token, queueToken: entry.token }).catch(() => {});
    }
  }
}

/** Problems that mean this Queue-Token is of no use any more. */
const TOKEN_GONE = new Set(['QUEUE_TOKEN_INVALID', 'QUEUE_TOKEN_MISMATCH', 'NOT_FOUND']);

/** How long after the turn should have ended the line is asked again (the server's sweep, timers). */
const AFTER_TURN_MS = 1000;

/**
 * One concert's line for one user: `entry` ({ token: the newest, first: the position first seen,
 * since: the token the entry was joined with, once a poll re-issued it }), the latest
 * `view` from the server, and the actions. `ended` says why a turn ended when the page ended it.
 *
 * While waiting, the line is polled on the server's cadence. While it is the user's turn it is not:
 * every poll carries the bearer and would slide the active period, so an idle tab would keep its turn
 * for ever. The page instead keeps the turn's end (`activeUntil`, moved on by the user's own holds and
 * payments: `touched`) and asks the line once more only after that end has passed; the seat map,
 * read with the Queue-Token alone, learns of the end within a second (QUEUE_NOT_ACTIVE).
 */
export function useQueue(user, concertId, fail) {
  const key = storeKey(user, concertId);
  const path = `/concerts/${encodeURIComponent(concertId)}/queue`;
  const [entry, setEntry] = useState(() => read(key));
  const [view, setView] = useState(null);
  const [ended, setEnded] = useState(null);
  const [busy, act] = useAction(fail);
  const problems = useFirstProblem();
  /** The turn: its length as first seen, and its end on the page's clock (performance.now()). */
  const turn = useRef({ ttl: 0, deadline: 0 });

  const keep = (next) => {
    if (next) localStorage.setItem(key, JSON.stringify(next));
    else localStorage.removeItem(key);
    setEntry(next);
  };
  /** Shows an answer of the line; an ACTIVE one sets the turn's end (never early: see api.js serverNow). */
  const show = (data, { receivedAt, serverNow }) => {
    if (data.status === 'ACTIVE' && data.activeUntil) {
      const ttl = Date.parse(data.activeUntil) - serverNow;
      turn.current = { ttl: Math.max(turn.current.ttl, ttl), deadline: receivedAt + ttl };
    }
    setView(data);
  };

  usePoll(async (stopped) => {
    if (!entry) return null;
    const left = turn.current.deadline - performance.now();
    if (left > 0) return left + AFTER_TURN_MS;
    // The newest token of this entry: each answer re-issues it, and keeping it tells a line lost
    // meanwhile (Redis restarted empty) that this user is still in it.
    const held = read(key) ?? entry;
    try {
      const answer = await request(path, { token: user.token, queueToken: held.token });
      const { data } = answer;
      if (stopped()) return null;
      problems.clear();
      show(data, answer);
      if (data.status === 'EXPIRED') {
        keep(null);
        setEnded(statusText(data));
        return null;
      }
      const first = data.position && data.position > held.first ? data.position : held.first;
      if (data.token !== held.token || first !== held.first) {
        keep({ ...held, token: data.token, first, since: held.since ?? held.token });
      }
      if (data.status === 'ACTIVE') return turn.current.deadline - performance.now() + AFTER_TURN_MS;
      return data.refreshAfterSeconds * 1000;
    } catch (err) {
      if (stopped()) return null;
      if (TOKEN_GONE.has(err.code)) {
        keep(null);
        setView(null);
      }
      if (problems.first(err)) fail(err);
      if (TOKEN_GONE.has(err.code) || err.code === 'UNAUTHENTICATED') return null;
      return Math.max(5000, (err.retryAfterSeconds ?? 0) * 1000);
    }
  }, [entry?.since ?? entry?.token]);

  return {
    entry,
    view: entry ? view : null,
    ended,
    busy,
    join: () =>
      act(async () => {
        const answer = await request(path, { method: 'POST', token: user.token });
        const { data } = answer;
        setEnded(null);
        show(data, answer);
        keep({ token: data.token, first: data.position ?? 0 });
      }),
    leave: () =>
      act(async () => {
        if (entry) await request(path, { method: 'DELETE', token: user.token, queueToken: entry.token });
        keep(null);
        setView(null);
        setEnded('You left the line.');
      }),
    /** The server ended the turn (it expired, or everything held was paid for). */
    endTurn(reason) {
      turn.current = { ttl: 0, deadline: 0 };
      keep(null);
      setView(null);
      setEnded(reason);
    },
    /** An answer to the user's own request with the Queue-Token (a hold, a payment): the turn slid. */
    touched({ receivedAt, serverNow }) {
      const { ttl } = turn.current;
      if (!ttl || !entry) return;
      turn.current = { ttl, deadline: receivedAt + ttl };
      setView((v) => (v?.status === 'ACTIVE' ? { ...v, activeUntil: new Date(serverNow + ttl).toISOString() } : v));
    },
  };
}

function statusText(view) {
  if (!view) return '';
  if (view.status === 'WAITING' && view.soldOut) {
    return `This concert is sold out: every seat is taken. You are number ${view.position} in line in case a seat comes back, or you can leave the line.`;
  }
  if (view.status === 'WAITING') {
    return `You are number ${view.position} in line. Estimated wait: ${aboutSeconds(view.estimatedWaitSeconds ?? 0)}.`;
  }
  if (view.status === 'ACTIVE') {
    return `It is your turn: pick a date and a seat. It ends at ${timeOfDay(view.activeUntil)} if you do nothing; holding or paying for a seat keeps it.`;
  }
  return 'Your turn has expired. Join the line again to book.';
}

export function QueueStatus({ queue }) {
  const { entry, view, ended, busy } = queue;
  const waiting = view?.status === 'WAITING';
  // Steps from joining to being admitted: one per place ahead when joined, plus joining itself.
  const progressMax = Math.max(entry?.first ?? 1, view?.position ?? 1, 1) + 1;
  return html`
    <div class="queue">
      <p class="queue-status" aria-live="polite" aria-atomic="true" data-testid="queue-status">
        ${entry ? (view ? statusText(view) : 'Checking your place in line…') : (ended ?? 'Join the line to get your turn to pick seats.')}
      </p>
      ${waiting &&
      html`<label class="progress">Progress through the line
        <progress max=${progressMax} value=${progressMax - view.position}></progress>
      </label>`}
      <div class="row">
        ${entry
          ? html`<button type="button" class="secondary" disabled=${busy} onClick=${queue.leave}>Leave the line</button>`
          : html`<button type="button" disabled=${busy} onClick=${queue.join}>Join the line</button>`}
      </div>
    </div>`;
}
