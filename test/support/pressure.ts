/**
 * Keeps the event loop busy: every few milliseconds a timer spins for `spinMs`, so the loop's delay
 * stays far above a shedding test's threshold while requests still get a turn between the spins.
 * Returns the function that stops it.
 */
export function pressure(spinMs = 150): () => void {
  const timer = setInterval(() => {
    const until = performance.now() + spinMs;
    while (performance.now() < until) {
      // busy: the event loop cannot run anything else
    }
  }, 5);
  return () => clearInterval(timer);
}
