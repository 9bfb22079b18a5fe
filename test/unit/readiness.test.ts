import { afterEach, describe, expect, it } from 'vitest';
import { watchReadiness } from '../../src/platform/readiness.js';
import { sleep, until } from '../support/wait.js';

/** A dependency whose answers the test decides: up and quick, up and slow, or down. */
function dependency() {
  const state = { mode: 'up' as 'up' | 'slow' | 'down', probes: 0 };
  const probe = async () => {
    state.probes++;
    if (state.mode === 'down') throw new Error('connect ECONNREFUSED');
    if (state.mode === 'slow') await sleep(120);
  };
  return { state, probe };
}

describe('the readiness watch that pauses queue admission', () => {
  const stops: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await Promise.all(stops.splice(0).map((stop) => stop()));
  });

  it('stays ready while the database is slow but answering, goes not ready when it fails, and ready again when it answers', async () => {
    const { state, probe } = dependency();
    const watch = watchReadiness(probe, { everyMs: 10, timeoutMs: 1_000 });
    stops.push(watch.stop);

    state.mode = 'slow'; // busy: each probe waits its turn, then answers
    const before = state.probes;
    await until(() => state.probes >= before + 3);
    expect(watch.ready).toBe(true);

    state.mode = 'down';
    await until(() => !watch.ready);

    state.mode = 'up';
    await until(() => watch.ready);
  });

  it('counts a probe that never answers within its timeout as not ready', async () => {
    let hang = false;
    const watch = watchReadiness(() => (hang ? new Promise(() => {}) : Promise.resolve()), { everyMs: 10, timeoutMs: 50 });
    stops.push(watch.stop);
    hang = true;
    await until(() => !watch.ready);
    hang = false;
    await until(() => watch.ready);
  });
});
