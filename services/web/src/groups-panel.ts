/**
 * The sidebar's named-group panel: create a group, join one by its id, and the list of this user's groups
 * (client.groups.mine(), after login, reconnect, create and join) fed into the page's model. A disclosure
 * button opens the panel (Escape closes it); errors are spoken through the panel's alert line.
 */
import type { CimClient } from '../../client/src/sdk/client.ts';
import { CimClientError } from '../../client/src/sdk/errors.ts';
import { isGroupName } from '../../common/src/groups/entry.ts';
import { groupKey, type ConversationKey, type Conversations } from './conversations.ts';

export interface GroupsPanelDeps {
  /** The signed-in client, undefined after logout. */
  readonly client: () => CimClient | undefined;
  /** The current model (replaced at every logout). */
  readonly model: () => Conversations;
  /** Opens a conversation (a group just created or joined). */
  readonly open: (key: ConversationKey) => void;
  /** The list of conversations changed: render it. */
  readonly changed: () => void;
}

export interface GroupsPanel {
  /** Asks the route for this user's groups and adds them to the model. */
  refresh(): Promise<void>;
  /** Back to closed and empty (logout). */
  reset(): void;
}

const GROUP_ID = /^[1-9][0-9]{0,15}$/u;
const BAD_NAME = 'A group name is 1 to 256 characters, without control characters or leading and trailing spaces.';

function el<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from index.html`);
  return found as T;
}

/** What a refusal means to the user (docs/codes.md 73xx). */
export function groupErrorText(err: unknown): string {
  if (err instanceof CimClientError) {
    switch (err.serverCode) {
      case '7320':
        return 'You are not a member of this group.';
      case '7330':
        return 'There is no group with this id.';
      case '7340':
        return 'This group is closed: ask a member to invite you.';
      case '7350':
        return 'This group is full.';
      case '3000':
        return BAD_NAME;
    }
  }
  return err instanceof Error ? err.message : String(err);
}

export function setupGroupsPanel(deps: GroupsPanelDeps): GroupsPanel {
  const toggle = el<HTMLButtonElement>('groups-toggle');
  const panel = el<HTMLDivElement>('group-panel');
  const createForm = el<HTMLFormElement>('create-group-form');
  const nameInput = el<HTMLInputElement>('group-name');
  const joinForm = el<HTMLFormElement>('join-group-form');
  const idInput = el<HTMLInputElement>('group-id');
  const error = el<HTMLParagraphElement>('group-error');

  const show = (open: boolean, focus = true): void => {
    panel.hidden = !open;
    toggle.setAttribute('aria-expanded', String(open));
    if (!open) error.textContent = '';
    if (focus) (open ? nameInput : toggle).focus();
  };
  toggle.addEventListener('click', () => show(toggle.getAttribute('aria-expanded') !== 'true'));
  panel.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') show(false);
  });

  const busy = async (form: HTMLFormElement, work: () => Promise<void>): Promise<void> => {
    const buttons = [...form.querySelectorAll('button')];
    for (const b of buttons) b.disabled = true;
    form.setAttribute('aria-busy', 'true');
    error.textContent = '';
    try {
      await work();
    } catch (err) {
      error.textContent = groupErrorText(err);
    } finally {
      for (const b of buttons) b.disabled = false;
      form.setAttribute('aria-busy', 'false');
    }
  };

  const refresh = async (): Promise<void> => {
    const c = deps.client();
    if (!c || c.state === 'closed' || c.protocol === 'cim') return;
    const model = deps.model();
    const groups = await c.groups.mine();
    if (deps.client() !== c || deps.model() !== model) return; // logged out meanwhile
    for (const g of groups) model.withGroup(g.groupId, g.name);
    deps.changed();
  };

  createForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = nameInput.value.trim();
    const c = deps.client();
    if (!c) return;
    if (!isGroupName(name)) { // the route's own rule: checked here to say so before asking
      error.textContent = BAD_NAME;
      nameInput.focus();
      return;
    }
    void busy(createForm, async () => {
      const group = await c.groups.create(name);
      if (deps.client() !== c) return;
      deps.model().withGroup(group.groupId, group.name);
      nameInput.value = '';
      show(false, false);
      deps.open(groupKey(group.groupId));
    });
  });

  joinForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = idInput.value.trim().replace(/^#/u, '');
    const c = deps.client();
    if (!c) return;
    const groupId = Number(text);
    if (!GROUP_ID.test(text) || !Number.isSafeInteger(groupId)) {
      error.textContent = 'A group id is a positive number (the group’s creator sees it under the group’s title).';
      idInput.focus();
      return;
    }
    void busy(joinForm, async () => {
      await c.groups.join(groupId); // false: already a member, which is fine
      await refresh();
      if (deps.client() !== c) return;
      const joined = deps.model().get(groupKey(groupId));
      if (!joined) throw new Error('Joined, but the group is not in your list yet: try again.');
      idInput.value = '';
      show(false, false);
      deps.open(joined.key);
    });
  });

  return {
    refresh: () => refresh().catch(() => undefined), // the next login, reconnect or unknown group's message asks again
    reset: () => {
      show(false, false);
      nameInput.value = '';
      idInput.value = '';
    },
  };
}
