import { describeGroupStoreContract } from '../../../../test/contracts/group-store.ts';
import { MemoryGroupStore } from './memory.ts';

describeGroupStoreContract('memory', async () => ({ store: new MemoryGroupStore(), advance: async () => undefined, close: async () => undefined }));
