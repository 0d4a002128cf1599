import { describeAuthStoreContract } from '../../../test/contracts/auth-store.ts';
import { MemoryAuthStore } from './auth-store-memory.ts';
import { ManualClock } from './clock.ts';

describeAuthStoreContract('memory', async () => {
  const clock = new ManualClock();
  return { store: new MemoryAuthStore(clock), advance: async (ms: number) => clock.advance(ms), close: async () => undefined };
});
