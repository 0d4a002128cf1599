/**
 * `cim chat`'s file messages: `:file USERID PATH` sends one, `:get MSGID [DIR]` saves the file of a message this
 * process showed (the shell remembers the attachments it printed, newest last, a bounded number).
 */
import { formatBytes } from '../../../common/src/files/attachment.ts';
import type { Attachment, CimClient, ChatMessage } from '../sdk/client.ts';

/** Attachments remembered for :get; the oldest are forgotten first. */
const MAX_REMEMBERED = 1000;

export class AttachmentShelf {
  readonly #byId = new Map<string, Attachment>();

  /** Remembers a shown message's attachment; the id to :get it by (its msgId), or undefined when it has none. */
  remember(message: ChatMessage): string | undefined {
    if (!message.attachment || message.msgId === undefined) return undefined;
    if (this.#byId.size >= MAX_REMEMBERED) this.#byId.delete(this.#byId.keys().next().value!);
    this.#byId.set(message.msgId, message.attachment);
    return message.msgId;
  }

  /** By msgId, or by a prefix of one that no other remembered msgId has. */
  find(id: string): Attachment | 'ambiguous' | undefined {
    const exact = this.#byId.get(id);
    if (exact) return exact;
    const matches = [...this.#byId.entries()].filter(([k]) => k.startsWith(id));
    if (matches.length > 1) return 'ambiguous';
    return matches[0]?.[1];
  }
}

/** `[file] name 3.0 MiB — :get <msgId>`. */
export const formatAttachment = (a: Attachment, id: string): string => `[file] ${a.name} ${formatBytes(a.size)} — :get ${id}`;

/** :file: upload then send; the lines to print. */
export async function sendFileCommand(client: CimClient, to: number, path: string): Promise<string[]> {
  const sent = await client.sendFile(to, path);
  const a = sent.attachment;
  return [`* sent [file] ${a.name} (${formatBytes(a.size)}, ${a.type}) to #${to}${sent.online === false ? '; they are offline, it waits in their inbox' : ''}`];
}

/** :get: the lines to print. */
export async function getFileCommand(client: CimClient, shelf: AttachmentShelf, id: string, dir: string): Promise<string[]> {
  const a = shelf.find(id);
  if (a === 'ambiguous') return [`! more than one file message starts with ${id}; type more of its id`];
  if (!a) return [`! no file message ${id} was shown here (:get takes the id printed after [file])`];
  const saved = await client.download(a, dir);
  return [`* saved ${saved.path} (${saved.size} bytes, sha256 ${saved.sha256})`];
}
