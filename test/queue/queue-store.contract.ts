import { afterAll, beforeAll, describe } from 'vitest';
import type { QueueStore, QueueStoreOptions } from '../../src/modules/queue/queue.store.js';
import { describeAdmissionContract } from './contract/admission.js';
import { describeEntriesContract } from './contract/entries.js';
import { describeLineContract } from './contract/line.js';
import { describeObservedLinesContract } from './contract/observed.js';
import { describePauseContract } from './contract/pause.js';
import { describeRestoreContract } from './contract/restore.js';

export interface QueueStoreFixture {
  store: QueueStore;
  /**
   * Loses one concert's line as a restarted, empty store would (Redis: its keys deleted; in
   * process: a new store); returns the store to go on with.
   */
  lose(concertId: string): Promise<QueueStore>;
  cleanup(): Promise<void>;
}

/**
 * The behaviour every QueueStore adapter must share. Each test uses its own random concert id, so
 * one store serves the whole suite and tests never see each other's entries.
 */
export function describeQueueStoreContract(name: string, makeStore: (opts: QueueStoreOptions) => Promise<QueueStoreFixture>) {
  describe(name, () => {
    let fixture: QueueStoreFixture | undefined;
    let store: QueueStore;
    let admitted = 0;

    beforeAll(async () => {
      fixture = await makeStore({ onAdmitted: (count) => (admitted += count) });
      store = fixture.store;
    });
    afterAll(async () => {
      await fixture?.cleanup();
    });

    const current = () => store;
    describeLineContract(current);
    describeAdmissionContract(current);
    describeEntriesContract(current);
    describeObservedLinesContract(current, () => admitted);
    describeRestoreContract(current, (concertId) => fixture!.lose(concertId));
    describePauseContract(current);
  });
}
