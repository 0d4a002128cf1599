/**
 * files.ts for the browser bundle (scripts/build-web.mjs swaps it in): the web client has no file messages yet
 * (it would need a file picker and a Blob download instead of paths). Same surface; every call refuses.
 */
import { ClientErrorCode, CimClientError } from './errors.ts';
import type { Attachment } from '../../../common/src/files/attachment.ts';
import type { Downloaded, FileTransferDeps, SendFileOptions } from './files.ts';

export type { Attachment } from '../../../common/src/files/attachment.ts';
export type { Downloaded, SendFileOptions } from './files.ts';

const unsupported = () => Promise.reject(new CimClientError(ClientErrorCode.INVALID_ARGUMENT, 'file messages are not available in the web client yet'));

export class FileTransfer {
  constructor(_deps: FileTransferDeps) {}
  upload(_file: unknown, _options?: SendFileOptions): Promise<Attachment> {
    return unsupported();
  }
  download(_attachment: Attachment, _destination: string): Promise<Downloaded> {
    return unsupported();
  }
}
