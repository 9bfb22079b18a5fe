// Small hooks the components share: polling on the server's cadence, a ticking clock, one action at a time.
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

/** Date.now(), re-read every `intervalMs` while `running`. */
export function useNow(intervalMs, running = true) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!running) return undefined;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs, running]);
  return now;
}

/**
 * `[busy, run]`: `run(work)` runs one action at a time (a second press while it runs does nothing)
 * and hands a failure to `fail`.
 */
export function useAction(fail) {
  const [busy, setBusy] = useState(false);
  // The ref, not the state, guards: a second click can arrive before the page re-renders.
  const running = useRef(false);
  const run = async (work) => {
    if (running.current) return;
    running.current = true;
    setBusy(true);
    try {
      await work();
    } catch (err) {
      fail(err);
    } finally {
      running.current = false;
      setBusy(false);
    }
  };
  return [busy, run];
}
