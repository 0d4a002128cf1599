import { ManualClock } from '../clock.ts';
import { describeAccountStoreContract } from '../../../../test/contracts/account-store.ts';
import { describePresenceStoreContract } from '../../../../test/contracts/presence-store.ts';
import { MemoryRouteStore } from './memory.ts';

const create = async () => {
  const clock = new ManualClock();
  const store = new MemoryRouteStore(clock);
  return { store, advance: async (ms: number) => clock.advance(ms), close: () => store.close() };
};

describeAccountStoreContract('memory', create);
describePresenceStoreContract('memory', create);
