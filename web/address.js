// What the page shows is in its address (#concert=<id>&date=<id>), so a link or a reload opens it again.

const read = () => new URLSearchParams(location.hash.slice(1));

export const concertInAddress = () => read().get('concert');
export const dateInAddress = () => read().get('date');

/** Keeps the chosen concert and date in the address, without a new history entry. */
export function showInAddress({ concert, date }) {
  const params = new URLSearchParams();
  if (concert) params.set('concert', concert);
  if (concert && date) params.set('date', date);
  const hash = params.toString();
  history.replaceState(null, '', hash ? `#${hash}` : location.pathname);
}
