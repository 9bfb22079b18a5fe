import { createMemoryQueueStore } from '../../src/modules/queue/queue.store.memory.js';
import { describeQueueStoreContract } from './queue-store.contract.js';

describeQueueStoreContract('in-process queue store', async () => {
  const store = createMemoryQueueStore();
  return { store, cleanup: () => store.close() };
});
