// The concerts on sale and, for the chosen one, its dates with the seats they have left.
import { useEffect, useState } from 'preact/hooks';
import { html } from './html.js';
import { request } from './api.js';
import { dateState } from './catalog.js';
import { dateTime, money } from './format.js';

export function Concerts({ selected, onSelect, fail }) {
  const [concerts, setConcerts] = useState(null);
  const [next, setNext] = useState(null);
  const load = async (cursor) => {
    try {
      const { data } = await request(`/concerts?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      setConcerts((before) => [...(cursor ? before ?? [] : []), ...data.items]);
      setNext(data.nextCursor);
    } catch (err) {
      fail(err);
    }
  };
  useEffect(() => void load(null), []);
  return html`
    <section class="card" aria-labelledby="concerts-h">
      <h2 id="concerts-h">Concerts</h2>
      ${concerts === null && html`<p>Loading concerts…</p>`}
      ${concerts?.length === 0 && html`<p>No concerts are on sale yet.</p>`}
      <ul class="concerts">
        ${(concerts ?? []).map(
          (c) => html`<li key=${c.id}>
            <button type="button" class="concert" aria-pressed=${selected === c.id} onClick=${() => onSelect(c.id)}>
              <strong>${c.title}</strong><span>${c.artist} · ${c.venue}</span>
            </button>
          </li>`,
        )}
      </ul>
      ${next && html`<button type="button" class="link" onClick=${() => load(next)}>More concerts</button>`}
    </section>`;
}

/** The concert's dates; each open one can be picked. Re-read whenever something changed. */
export function Dates({ concertId, scheduleId, onPick, changes, fail }) {
  const [concert, setConcert] = useState(null);
  useEffect(() => {
    let stale = false;
    request(`/concerts/${encodeURIComponent(concertId)}`).then((r) => !stale && setConcert(r.data), (err) => !stale && fail(err));
    return () => {
      stale = true;
    };
  }, [concertId, changes]);
  if (!concert) return html`<p>Loading dates…</p>`;
  return html`
    <fieldset class="dates">
      <legend>${concert.title}: pick a date</legend>
      ${concert.schedules.map((s) => {
        const state = dateState(s);
        return html`<label key=${s.id} class=${state.open ? 'date' : 'date closed'}>
          <input type="radio" name="date" value=${s.id} checked=${scheduleId === s.id} disabled=${!state.open}
            onChange=${() => onPick(s.id, concert)} />
          <span><strong>${dateTime(s.startsAt)}</strong> · ${money(s.price)} · ${state.text}</span>
        </label>`;
      })}
    </fieldset>`;
}
