/**
 * A named group's message (docs/delivery.md "Named groups"): appended to every other member's acknowledged
 * inbox with the same msgId and one gseq, then SENT, then pushed live with one push per server.
 *
 * Order: the gseq is taken and every append made inside the group's exclusive section, so each member's inbox
 * holds a group's messages in gseq order and the receiving client's existing inbox-seq ordering shows them
 * so. Membership is read inside the section too: a member who left before a message's turn never gets it.
 */
import { randomUUID } from 'node:crypto';
import { Codes } from '../codes.ts';
import { groupConversation } from '../history/types.ts';
import type { InboxEntry, InboxMessage } from '../inbox/types.ts';
import { inboxEntryProperties } from '../message-props.ts';
import { DeliveryError, type MessageRouterOptions, type OutgoingMessage, type Sender } from '../message-router.ts';
import type { RouteCache } from '../route-cache.ts';
import type { GroupStore } from './types.ts';

export type GroupDeliveryDeps = Pick<MessageRouterOptions, 'directory' | 'inbox' | 'push' | 'clock' | 'log' | 'limits' | 'history' | 'onDropped' | 'onHistoryFailed' | 'onRefused'> & {
  readonly groups: GroupStore;
  /** receivers' servers, remembered and corrected by the pushes (route-cache.ts); absent: looked up each time */
  readonly routes?: RouteCache | undefined;
  /** --login-policy multi: stores the sender's carbon copy (inside the group's section, so it keeps the group's order) */
  readonly carbon?: ((m: InboxMessage) => Promise<{ push(): Promise<void> } | undefined>) | undefined;
};

/** A group message stored in every member's inbox: SENT. `push()` then tries the live deliveries. */
export interface GroupSent {
  readonly msgId: string;
  readonly gseq: number;
  /** the members it was stored for (everyone but the sender, less those whose inbox refused it) */
  readonly stored: number;
  /** members whose inbox refused it (--inbox-max-per-sender): they do not get it */
  readonly refused: number;
  /** one push per server holding members; resolves with the sessions that got it */
  push(): Promise<number>;
}

/** Ids a group remembers for retried sends (sender:msgId -> gseq). */
const GROUP_IDS_KEPT = 10_000;
/** Inbox appends in flight at once for one message (ioredis pipelines them). */
const APPEND_CHUNK = 200;

/** @throws DeliveryError: 7330 unknown group, 7320 not a member, 7200 a store failed (retry with the same msgId). */
export async function sendToNamedGroup(d: GroupDeliveryDeps, from: Sender, groupId: number, message: OutgoingMessage): Promise<GroupSent> {
  const msgId = message.msgId ?? randomUUID();
  await checkMember(d.groups, groupId, from.userId);
  const sentAt = d.clock.now();
  let stored: { gseq: number; entries: { userId: number; entry: InboxEntry }[]; refused: number; carbon?: { push(): Promise<void> } | undefined };
  try {
    stored = await d.groups.exclusive(groupId, async () => {
      const members = await d.groups.members(groupId);
      if (!members?.some((m) => m.userId === from.userId)) throw new DeliveryError(Codes.GROUP_NOT_MEMBER, `${from.userId} left group ${groupId}`);
      const { gseq } = await d.groups.sequence(groupId, `${from.userId}:${msgId}`, GROUP_IDS_KEPT);
      const m: InboxMessage = { msgId, from: { userId: from.userId, userName: from.userName }, text: message.text, sentAt, chatType: 'group', groupId, gseq };
      const receivers = members.map((x) => x.userId).filter((u) => u !== from.userId);
      const entries: { userId: number; entry: InboxEntry }[] = [];
      let refused = 0;
      for (let i = 0; i < receivers.length; i += APPEND_CHUNK) {
        const chunk = receivers.slice(i, i + APPEND_CHUNK);
        const results = await Promise.all(chunk.map((u) => d.inbox.append(u, m, d.limits)));
        results.forEach((r, j) => {
          if (r.refused) {
            refused++;
            d.onRefused?.(r.refused);
          } else {
            if (r.dropped > 0) d.onDropped?.(r.dropped);
            entries.push({ userId: chunk[j]!, entry: { ...m, seq: r.seq } });
          }
        });
      }
      await keepInGroupHistory(d, groupId, m);
      const carbon = from.device === undefined ? undefined : await d.carbon?.(m);
      return { gseq, entries, refused, carbon };
    });
  } catch (err) {
    if (err instanceof DeliveryError) throw err;
    throw new DeliveryError(Codes.STORE_UNAVAILABLE, `group ${groupId}: not stored for every member`, { cause: err });
  }
  return { msgId, gseq: stored.gseq, stored: stored.entries.length, refused: stored.refused, push: async () => (await Promise.all([pushToMembers(d, stored.entries), stored.carbon?.push()]))[0] };
}

/** @throws DeliveryError 7330 / 7320 / 7200 */
export async function checkMember(groups: GroupStore, groupId: number, userId: number): Promise<void> {
  let known: boolean;
  try {
    if ((await groups.role(groupId, userId)) !== undefined) return;
    known = (await groups.get(groupId)) !== undefined;
  } catch (err) {
    throw new DeliveryError(Codes.STORE_UNAVAILABLE, 'group lookup failed', { cause: err });
  }
  throw known ? new DeliveryError(Codes.GROUP_NOT_MEMBER, `${userId} is not in group ${groupId}`) : new DeliveryError(Codes.GROUP_UNKNOWN, `no group ${groupId}`);
}

/** The group's record, like a private conversation's: a failure is logged and counted, never fails the send. */
async function keepInGroupHistory(d: GroupDeliveryDeps, groupId: number, m: InboxMessage): Promise<void> {
  if (!d.history) return;
  try {
    await d.history.store.append(groupConversation(groupId), { msgId: m.msgId, from: m.from, to: groupId, text: m.text, sentAt: m.sentAt }, d.history.limits);
  } catch (err) {
    d.onHistoryFailed?.();
    d.log.warn({ err, groupId, msgId: m.msgId }, 'group history append failed; the message is stored and delivered, not in the history');
  }
}

/**
 * One push per server with all its online members and their own seqs: the server writes each its frame.
 * Best effort: what is not pushed waits in the inboxes (next login, SYNC).
 */
async function pushToMembers(d: GroupDeliveryDeps, entries: readonly { userId: number; entry: InboxEntry }[]): Promise<number> {
  if (entries.length === 0) return 0;
  const routeOf = (userId: number) => (d.routes ? d.routes.get(userId) : d.directory.getRoute(userId)).catch(() => undefined);
  const first = entries[0]!.entry;
  // Shared by every frame; each receiver's own seq (`seqs`) replaces the first receiver's `seq` on its server.
  const properties = inboxEntryProperties(first);
  const pushRound = async (servers: readonly (string | undefined)[], round: readonly { userId: number; entry: InboxEntry }[]) => {
    const byServer = new Map<string, { receivers: number[]; seqs: number[]; entries: { userId: number; entry: InboxEntry }[] }>();
    round.forEach((e, i) => {
      const server = servers[i];
      if (server === undefined) return;
      const batch = byServer.get(server) ?? { receivers: [], seqs: [], entries: [] };
      batch.receivers.push(e.userId);
      batch.seqs.push(e.entry.seq);
      batch.entries.push(e);
      byServer.set(server, batch);
    });
    let delivered = 0;
    const missed: { server: string; e: { userId: number; entry: InboxEntry } }[] = [];
    await Promise.all([...byServer].map(async ([server, b]) => {
      try {
        const r = await d.push.push(server, { receivers: b.receivers, seqs: b.seqs, msg: first.text, properties });
        delivered += r.delivered;
        const offline = new Set(r.offline);
        for (const e of b.entries) if (offline.has(e.userId)) missed.push({ server, e });
      } catch (err) {
        d.log.warn({ err, gseq: first.gseq }, 'group push to a server failed; its members get the message from their inbox');
        for (const e of b.entries) missed.push({ server, e });
      }
    }));
    return { delivered, missed };
  };
  const firstRound = await pushRound(await Promise.all(entries.map((e) => routeOf(e.userId))), entries);
  if (!d.routes || firstRound.missed.length === 0) return firstRound.delivered;
  // Members not found where their remembered route said: look again, and push once more to those who moved.
  const routes = d.routes;
  const again = await Promise.all(firstRound.missed.map(async ({ server, e }) => {
    routes.forget(e.userId, server);
    const moved = await routes.refresh(e.userId).catch(() => undefined);
    return moved !== server ? moved : undefined;
  }));
  const secondRound = await pushRound(again, firstRound.missed.map((m) => m.e));
  return firstRound.delivered + secondRound.delivered;
}
