import { ManualClock } from '../clock.ts';
import { describeHistoryStoreContract } from '../../../../test/contracts/history-store.ts';
import { MemoryHistoryStore } from './memory.ts';

describeHistoryStoreContract('memory', async () => {
  const clock = new ManualClock();
  return { store: new MemoryHistoryStore(clock), advance: async (ms) => clock.advance(ms), close: async () => undefined };
});
