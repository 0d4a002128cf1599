import { describeContactStoreContract } from '../../../../test/contracts/contact-store.ts';
import { MemoryContactStore } from './memory.ts';

describeContactStoreContract('memory', async () => ({ store: new MemoryContactStore(), advance: async () => undefined, close: async () => undefined }));
