/**
 * The attachment of a file message: frame properties fileId, fileName, fileSize, fileType, fileToken (codec.ts
 * Prop), the same on the way in (client → server), in the inbox and on the way out. CIM's clients see the text
 * only ("[file] name (size)"). Pure; never throws on a client's strings.
 */
import { Prop } from '../codec.ts';

// Here, not beside the store and the signer: this module is in the browser bundle (web client), they are not.
/** A stored file's id: 128 random bits, base64url (files/types.ts makes them). */
export const FILE_ID = /^[A-Za-z0-9_-]{22}$/;
/** A download token: `<expiry seconds>.<base64url HMAC-SHA256>` (files/file-token.ts). */
export const FILE_TOKEN = /^\d{1,12}\.[A-Za-z0-9_-]{43}$/;

export interface Attachment {
  readonly fileId: string;
  readonly name: string;
  readonly size: number;
  readonly type: string;
  /** the signed download token (file-token.ts) */
  readonly token: string;
}

export const MAX_FILE_NAME_CHARS = 255;
// No control characters, line/paragraph separators or bidi overrides (terminal and log spoofing), no path separators.
const FILE_NAME = /^[^\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069/\\]+$/;
const MEDIA_TYPE = /^[a-z0-9][a-z0-9.+-]{0,63}\/[a-z0-9][a-z0-9.+-]{0,63}$/;

export const isFileName = (name: unknown): name is string =>
  typeof name === 'string' && name.length <= MAX_FILE_NAME_CHARS && FILE_NAME.test(name) && name.trim() === name && name !== '.' && name !== '..';
export const isMediaType = (type: unknown): type is string => typeof type === 'string' && MEDIA_TYPE.test(type);

/** A sound attachment or undefined. */
export function checkAttachment(value: unknown): Attachment | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const a = value as Record<string, unknown>;
  if (typeof a['fileId'] !== 'string' || !FILE_ID.test(a['fileId'])) return undefined;
  if (!isFileName(a['name']) || !isMediaType(a['type'])) return undefined;
  if (!Number.isSafeInteger(a['size']) || (a['size'] as number) < 0) return undefined;
  if (typeof a['token'] !== 'string' || !FILE_TOKEN.test(a['token'])) return undefined;
  return { fileId: a['fileId'], name: a['name'], size: a['size'] as number, type: a['type'], token: a['token'] };
}

/** Frame properties of an attachment (none for undefined). */
export function attachmentProperties(a: Attachment | undefined): Record<string, string> {
  if (!a) return {};
  return { [Prop.fileId]: a.fileId, [Prop.fileName]: a.name, [Prop.fileSize]: String(a.size), [Prop.fileType]: a.type, [Prop.fileToken]: a.token };
}

/** The attachment a frame carries: none (no fileId), one, or `invalid` (some file property is there but not sound). */
export function attachmentOf(p: Readonly<Record<string, string>>): Attachment | undefined | 'invalid' {
  const keys = [Prop.fileId, Prop.fileName, Prop.fileSize, Prop.fileType, Prop.fileToken];
  if (keys.every((k) => p[k] === undefined)) return undefined;
  const size = p[Prop.fileSize];
  const parsed = checkAttachment({
    fileId: p[Prop.fileId],
    name: p[Prop.fileName],
    size: size !== undefined && /^\d{1,15}$/.test(size) ? Number(size) : -1,
    type: p[Prop.fileType],
    token: p[Prop.fileToken],
  });
  return parsed ?? 'invalid';
}

/** "3.0 MiB": the size as people read it. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** The text of a file message, for CIM's clients and history: "[file] name (size)". */
export const fileMessageText = (a: Pick<Attachment, 'name' | 'size'>): string => `[file] ${a.name} (${formatBytes(a.size)})`;
