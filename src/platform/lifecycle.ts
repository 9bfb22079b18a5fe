/**
 * What a start acquired (servers, pools, connections, timers), each with how to release it.
 * `stop()` releases them in reverse order of acquisition, every one even when an earlier one
 * fails, and reports the failures; it runs once (later calls get the same answer). A resource
 * handed in after `stop()` began is released at once and the start is told to give up.
 */
export interface Resources {
  /** Registers `value` as acquired; returns it. Throws StartAborted when the resources are already stopping. */
  own<T>(name: string, value: T, release: (value: T) => unknown): T;
  stop(): Promise<StopFailure[]>;
  readonly stopping: boolean;
}

export interface StopFailure {
  name: string;
  error: unknown;
}

export class StartAborted extends Error {
  constructor(name: string) {
    super(`stopping: ${name} was released as soon as it was acquired`);
    this.name = 'StartAborted';
  }
}

export function createResources(): Resources {
  const held: { name: string; release: () => unknown }[] = [];
  let stopped: Promise<StopFailure[]> | undefined;
  const lateReleases: Promise<unknown>[] = [];

  async function releaseAll(): Promise<StopFailure[]> {
    const failures: StopFailure[] = [];
    for (const { name, release } of held.reverse()) {
      try {
        await release();
      } catch (error) {
        failures.push({ name, error });
      }
    }
    await Promise.allSettled(lateReleases);
    return failures;
  }

  return {
    own(name, value, release) {
      if (stopped) {
        lateReleases.push(Promise.resolve().then(() => release(value)).catch(() => {}));
        throw new StartAborted(name);
      }
      held.push({ name, release: () => release(value) });
      return value;
    },
    stop() {
      stopped ??= releaseAll();
      return stopped;
    },
    get stopping() {
      return stopped !== undefined;
    },
  };
}
