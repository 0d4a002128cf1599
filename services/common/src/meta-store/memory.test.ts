import { describeMetaStoreContract } from '../../../../test/contracts/meta-store.ts';
import { MemoryMetaHub, MemoryMetaStore } from './memory.ts';

describeMetaStoreContract('memory', async () => {
  const hub = new MemoryMetaHub();
  const stores: MemoryMetaStore[] = [];
  return {
    async store() {
      const s = new MemoryMetaStore(hub);
      stores.push(s);
      await s.start();
      return s;
    },
    // One process, no sessions: nothing can be lost, the registration simply stays.
    async loseSession() {},
    async close() {
      await Promise.all(stores.map((s) => s.close()));
    },
  };
});
