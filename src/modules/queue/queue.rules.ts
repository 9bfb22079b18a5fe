/**
 * Wait estimates, from the admission rate measured over a recent window. Pure, for unit tests.
 */

/** Admissions per second seen in the window; the configured rate when none was seen (a fresh queue). */
export function measuredRate(admittedInWindow: number, windowMs: number, configuredPerSecond: number): number {
  if (admittedInWindow <= 0) return configuredPerSecond;
  return admittedInWindow / (windowMs / 1000);
}

/** Seconds until a user at `position` (1 = next) is admitted at `ratePerSecond`. */
export function estimatedWaitSeconds(position: number, ratePerSecond: number): number {
  if (position <= 0) return 0;
  return Math.ceil(position / Math.max(ratePerSecond, 0.01));
}

/**
 * How long a client should wait before polling again: about a tenth of the remaining wait, at
 * least 1 s and at most 60 s, so the head of the line polls often and 100,000 users far behind
 * poll rarely (load ≈ Σ 1/refresh, which stays near 10 × admission rate + N/60).
 */
export function refreshAfterSeconds(waitSeconds: number): number {
  return Math.min(60, Math.max(1, Math.ceil(waitSeconds / 10)));
}
