// Small hooks the components share: polling on the server's cadence, a ticking clock, one action at a time, a problem said once.
import { useEffect, useRef, useState } from 'preact/hooks';

/**
 * Runs `step` now and again after the delay (ms) it resolves with, until it resolves with null or
 * `deps` change (the loop then starts over at once). `step` gets `stopped()`, to drop a late answer.
 */
export function usePoll(step, deps) {
  useEffect(() => {
    let stopped = false;
    let timer;
    const run = async () => {
      let next = null;
      try {
        next = await step(() => stopped);
      } finally {
        if (!stopped && next != null) timer = setTimeout(run, next);
      }
    };
    void run();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, deps);
}

/**
 * The page's clock: performance.now() (monotonic: a clock change on the device moves no deadline),
 * read at every render and re-rendered every `intervalMs` while `running`. Deadlines compare with it
 * (see api.js `receivedAt`).
 */
export function useNow(intervalMs, running = true) {
  const [, tick] = useState(0);
  useEffect(() => {
    if (!running) return undefined;
    const timer = setInterval(() => tick((n) => n + 1), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs, running]);
  return performance.now();
}

/**
 * `[busy, run]`: `run(work, key)` runs one action per key at a time (a second press while it runs
 * does nothing, even before the page re-renders) and hands a failure to `fail`. `busy` is true while
 * any runs.
 */
export function useAction(fail) {
  const [busy, setBusy] = useState(0);
  // The ref, not the state, guards: a second click can arrive before the page re-renders.
  const running = useRef(new Set());
  const run = async (work, key = '') => {
    if (running.current.has(key)) return;
    running.current.add(key);
    setBusy((n) => n + 1);
    try {
      await work();
    } catch (err) {
      fail(err);
    } finally {
      running.current.delete(key);
      setBusy((n) => n - 1);
    }
  };
  return [busy > 0, run];
}

/**
 * For polls: `first(err)` is true only when the problem differs from the last one seen, so a poll
 * failing every few seconds says so once, not again and again into the page's alert region;
 * `clear()` after a success lets the next problem be said.
 */
export function useFirstProblem() {
  const last = useRef(null);
  return {
    first(err) {
      if (last.current === err.code) return false;
      last.current = err.code;
      return true;
    },
    clear() {
      last.current = null;
    },
  };
}
