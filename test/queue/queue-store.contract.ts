import { afterAll, beforeAll, describe } from 'vitest';
import type { QueueStore } from '../../src/modules/queue/queue.store.js';
import { describeAdmissionContract } from './contract/admission.js';
import { describeEntriesContract } from './contract/entries.js';
import { describeLineContract } from './contract/line.js';

export interface QueueStoreFixture {
  store: QueueStore;
  cleanup(): Promise<void>;
}

/**
 * The behaviour every QueueStore adapter must share. Each test uses its own random concert id, so
 * one store serves the whole suite and tests never see each other's entries.
 */
export function describeQueueStoreContract(name: string, makeStore: () => Promise<QueueStoreFixture>) {
  describe(name, () => {
    let fixture: QueueStoreFixture | undefined;
    let store: QueueStore;

    beforeAll(async () => {
      fixture = await makeStore();
      store = fixture.store;
    });
    afterAll(async () => {
      await fixture?.cleanup();
    });

    const current = () => store;
    describeLineContract(current);
    describeAdmissionContract(current);
    describeEntriesContract(current);
  });
}
