import { createMemoryRankingsStore } from '../../src/modules/rankings/rankings.store.memory.js';
import { describeRankingsStoreContract } from './rankings-store.contract.js';

describeRankingsStoreContract('in-process rankings store', async () => createMemoryRankingsStore());
