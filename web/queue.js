// The waiting room: join, your place refreshed on the server's cadence, leave; the Queue-Token kept per concert.
import { useState } from 'preact/hooks';
import { html } from './html.js';
import { request } from './api.js';
import { aboutSeconds } from './format.js';
import { useAction, usePoll } from './hooks.js';

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

/**
 * One concert's line for one user: `entry` ({ token, first: the position first seen }), the latest
 * `view` from the server, and the actions. `ended` says why a turn ended when the page ended it.
 */
export function useQueue(user, concertId, fail) {
  const key = storeKey(user, concertId);
  const path = `/concerts/${encodeURIComponent(concertId)}/queue`;
  const [entry, setEntry] = useState(() => read(key));
  const [view, setView] = useState(null);
  const [ended, setEnded] = useState(null);
  const [busy, act] = useAction(fail);

  const keep = (next) => {
    if (next) localStorage.setItem(key, JSON.stringify(next));
    else localStorage.removeItem(key);
    setEntry(next);
  };

  usePoll(async (stopped) => {
    if (!entry) return null;
    try {
      const { data } = await request(path, { token: user.token, queueToken: entry.token });
      if (stopped()) return null;
      setView(data);
      if (data.status === 'EXPIRED') {
        keep(null);
        setEnded(statusText(data));
        return null;
      }
      if (data.position && data.position > entry.first) keep({ ...entry, first: data.position });
      return data.refreshAfterSeconds * 1000;
    } catch (err) {
      if (stopped()) return null;
      if (TOKEN_GONE.has(err.code)) {
        keep(null);
        setView(null);
      }
      fail(err);
      return TOKEN_GONE.has(err.code) || err.code === 'UNAUTHENTICATED' ? null : 5000;
    }
  }, [entry?.token]);

  return {
    entry,
    view: entry ? view : null,
    ended,
    busy,
    join: () =>
      act(async () => {
        const { data } = await request(path, { method: 'POST', token: user.token });
        setEnded(null);
        setView(data);
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
      keep(null);
      setView(null);
      setEnded(reason);
    },
  };
}

function statusText(view) {
  if (!view) return '';
  if (view.status === 'WAITING') {
    return `You are number ${view.position} in line. Estimated wait: ${aboutSeconds(view.estimatedWaitSeconds ?? 0)}.`;
  }
  if (view.status === 'ACTIVE') return 'It is your turn: pick a date and a seat.';
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
