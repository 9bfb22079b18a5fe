// The booking page: who is signed in, what they are told, and the sections of the page.
import { render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { html } from './html.js';
import { Account, SignUp } from './account.js';
import { concertInAddress, showInAddress } from './address.js';
import { Booking } from './booking.js';
import { Concerts } from './concerts.js';
import { messageFor } from './messages.js';
import { leaveAllLines } from './queue.js';
import { releaseAllHolds, Reservations } from './reservations.js';

const USER_KEY = 'ticketing.user';

function storedUser() {
  try {
    const user = JSON.parse(localStorage.getItem(USER_KEY) ?? 'null');
    return user && typeof user.token === 'string' ? user : null;
  } catch {
    return null;
  }
}

/** What the page last said: an outcome (polite) or a problem (assertive), each in its own live region. */
function Notices({ notice, onDismiss }) {
  useEffect(() => {
    if (notice?.kind !== 'ok') return undefined;
    const timer = setTimeout(onDismiss, 8000);
    return () => clearTimeout(timer);
  }, [notice]);
  return html`<div class="notices">
    <div role="alert" class=${notice?.kind === 'error' ? 'notice error' : 'notice empty'}>
      ${notice?.kind === 'error' && html`<p>${notice.text}</p><button type="button" class="link" onClick=${onDismiss}>Dismiss</button>`}
    </div>
    <div role="status" class=${notice?.kind === 'ok' ? 'notice ok' : 'notice empty'}>
      ${notice?.kind === 'ok' && html`<p>${notice.text}</p>`}
    </div>
  </div>`;
}

function App() {
  const [user, setUser] = useState(storedUser);
  const [notice, setNotice] = useState(null);
  const [changes, setChanges] = useState(0);
  const [concertId, setConcertId] = useState(concertInAddress);
  const selectConcert = useCallback((id) => {
    showInAddress({ concert: id });
    setConcertId(id);
  }, []);

  const notify = useCallback((kind, text) => setNotice({ kind, text, at: Date.now() }), []);
  const changed = useCallback(() => setChanges((n) => n + 1), []);
  useEffect(() => {
    const follow = () => setConcertId(concertInAddress());
    addEventListener('hashchange', follow);
    return () => removeEventListener('hashchange', follow);
  }, []);
  const signOut = useCallback(() => {
    const leaving = storedUser();
    if (leaving) {
      leaveAllLines(leaving);
      releaseAllHolds(leaving).catch(() => {});
    }
    for (const key of Object.keys(localStorage)) if (key.startsWith('ticketing.')) localStorage.removeItem(key);
    setUser(null);
    selectConcert(null);
  }, []);
  const fail = useCallback((err, context) => {
    if (!(err instanceof Error)) return;
    if (!('code' in err)) console.error(err);
    notify('error', messageFor(err, context));
    if (err.code === 'UNAUTHENTICATED') signOut();
  }, []);
  const signedUp = (u) => {
    localStorage.setItem(USER_KEY, JSON.stringify(u));
    setUser(u);
    notify('ok', `Welcome, ${u.name}. Top up your balance, then pick a concert.`);
  };

  const shared = { user, changes, changed, notify, fail };
  return html`
    <${Notices} notice=${notice} onDismiss=${() => setNotice(null)} />
    ${user
      ? html`<div class="layout">
          <div class="side">
            <${Account} ...${shared} onSignOut=${signOut} />
            <${Reservations} ...${shared} />
          </div>
          <div class="primary">
            <${Concerts} selected=${concertId} onSelect=${selectConcert} fail=${fail} />
            ${concertId && html`<${Booking} key=${`${user.id}:${concertId}`} concertId=${concertId} ...${shared} />`}
          </div>
        </div>`
      : html`<${SignUp} onSignedUp=${signedUp} fail=${fail} />`}
  `;
}

render(html`<${App} />`, document.getElementById('app'));
