/**
 * `cim chat`'s contact and named-group commands: route calls through the SDK, answered as the lines to print
 * (like attachments.ts). Refusals throw with their catalogue message (7300 no such user, 7320 not a member, …).
 */
import type { CimClient } from '../index.ts';
import type { ContactCommand, GroupCommand } from './commands.ts';

export async function contactCommand(client: CimClient, c: ContactCommand): Promise<string[]> {
  const contacts = client.contacts;
  if (c.op === 'add') return [(await contacts.add(c.userId)) ? `* added contact ${c.userId}` : `* ${c.userId} is already a contact`];
  if (c.op === 'remove') return [(await contacts.remove(c.userId)) ? `* removed contact ${c.userId}` : `* ${c.userId} is not a contact`];
  const list = await contacts.list();
  if (list.length === 0) return ['you have no contacts (:add USERID)'];
  return list.map((u) => `  ${u.userName || `#${u.userId}`} (userId ${u.userId}) ${u.online ? 'online' : 'offline'}`);
}

/** `groupNames` learns the names it sees, so group messages can print `#name`. */
export async function groupCommand(client: CimClient, c: GroupCommand, groupNames: Map<number, string>): Promise<string[]> {
  const groups = client.groups;
  switch (c.op) {
    case 'mine': {
      const mine = await groups.mine();
      if (mine.length === 0) return ['you are in no named group (:create NAME, :join GROUPID)'];
      for (const g of mine) groupNames.set(g.groupId, g.name);
      return mine.map((g) => `#${g.groupId} ${g.name} (${g.role}${g.open ? '' : ', closed'})`);
    }
    case 'create': {
      const g = await groups.create(c.name);
      groupNames.set(g.groupId, g.name);
      return [`* created #${g.groupId} ${g.name}; write to it with #${g.groupId} TEXT`];
    }
    case 'join':
      return [(await groups.join(c.groupId)) ? `* joined #${c.groupId}` : `* already in #${c.groupId}`];
    case 'leave':
      return [(await groups.leave(c.groupId)) ? `* left #${c.groupId}` : `* not in #${c.groupId}`];
    case 'invite':
      return [(await groups.invite(c.groupId, c.userId)) ? `* added ${c.userId} to #${c.groupId}` : `* ${c.userId} is already in #${c.groupId}`];
    case 'members': {
      const { group, members } = await groups.members(c.groupId);
      groupNames.set(group.groupId, group.name);
      return [`#${group.groupId} ${group.name}: ${members.length} members`, ...members.map((m) => `  ${m.userName || `#${m.userId}`} (userId ${m.userId}, ${m.role})`)];
    }
  }
}
