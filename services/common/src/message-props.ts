/**
 * Frame properties of a private message, the same for a live push and a replay from the inbox, so a
 * client sees one shape whichever way a message arrives. Pure.
 */
import { Prop } from './codec.ts';
import { attachmentProperties } from './files/attachment.ts';
import type { InboxEntry } from './inbox/types.ts';

/** sendUserId, sendUserName, msgId, sentAt, chatType, seq, groupId + gseq of a named group's message, a file message's attachment (receiveUserId is set per recipient). */
export function inboxEntryProperties(entry: InboxEntry): Record<string, string> {
  return {
    [Prop.sendUserId]: String(entry.from.userId),
    [Prop.sendUserName]: entry.from.userName,
    [Prop.msgId]: entry.msgId,
    [Prop.sentAt]: String(entry.sentAt),
    [Prop.chatType]: entry.chatType,
    [Prop.seq]: String(entry.seq),
    ...(entry.groupId !== undefined && entry.gseq !== undefined ? { [Prop.groupId]: String(entry.groupId), [Prop.gseq]: String(entry.gseq) } : {}),
    ...(entry.carbonTo !== undefined ? { [Prop.carbonTo]: String(entry.carbonTo) } : {}),
    ...attachmentProperties(entry.attachment),
  };
}
