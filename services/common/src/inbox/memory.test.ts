import { ManualClock } from '../clock.ts';
import { describeInboxStoreContract } from '../../../../test/contracts/inbox-store.ts';
import { describeInboxDevicesContract } from '../../../../test/contracts/inbox-devices.ts';
import { MemoryInboxStore } from './memory.ts';

describeInboxStoreContract('memory', async () => {
  const clock = new ManualClock();
  const store = new MemoryInboxStore(clock);
  return { store, advance: async (ms) => clock.advance(ms), close: async () => undefined };
});

describeInboxDevicesContract('memory', async () => {
  const clock = new ManualClock();
  const store = new MemoryInboxStore(clock);
  return { store, advance: async (ms) => clock.advance(ms), close: async () => undefined };
});
