import { ManualClock } from '../clock.ts';
import { describeRouteStoreContract } from '../../../../test/contracts/route-store.ts';
import { MemoryRouteStore } from './memory.ts';

describeRouteStoreContract('memory', async () => {
  const clock = new ManualClock();
  const store = new MemoryRouteStore(clock);
  return { store, advance: async (ms) => clock.advance(ms), close: () => store.close() };
});
