/**
 * Runs `run` every `intervalMs`, one pass at a time (the next is scheduled when the last ends),
 * until stopped. A failing pass is reported and the loop goes on.
 */
export function startLoop(opts: { intervalMs: number; run: () => Promise<void>; onError: (err: unknown) => void }) {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = opts.run().catch(opts.onError).finally(schedule);
    }, opts.intervalMs);
    timer.unref();
  };
  schedule();
  return {
    /** Stops scheduling and waits for a pass in progress. */
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
