/**
 * The web chat client: sign up / log in, online users, the group ("everyone online"), named groups
 * (groups-panel.ts: create, join by id, this user's groups) and private chats,
 * delivery and read marks, unread counts and the connection's state. All chat logic is the SDK's
 * (services/client/src/sdk, bundled for browsers by scripts/build-web.mjs); it reaches the servers
 * through the route's WebSocket relay on this page's own origin (`via: 'route'`), so one port serves all;
 * `?via=auto` connects directly to servers the browser can reach (list them in the route's --web-connect-src).
 * Text is only ever set with textContent: nothing a peer sends is parsed as HTML.
 */
import { CimClient, type ChatMessage, type ClientState, type StateChange } from '../../client/src/sdk/client.ts';
import { CimClientError } from '../../client/src/sdk/errors.ts';
import { usesRelay, type Via } from '../../client/src/sdk/endpoint.ts';
import { RouteApi } from '../../client/src/sdk/route-api.ts';
import { randomUUID } from './crypto-shim.ts';
import { Conversations, groupKey, type Conversation, type ConversationKey, type Line } from './conversations.ts';
import { setupGroupsPanel } from './groups-panel.ts';

const ONLINE_POLL_MS = 5_000;
const STATE_TEXT: Record<ClientState, string> = {
  idle: 'Not signed in',
  connecting: 'Connecting…',
  ready: 'Online',
  reconnecting: 'Reconnecting…',
  closed: 'Offline',
};
const MARK_TEXT = { sending: 'sending…', sent: 'sent', delivered: 'delivered', read: 'read', failed: 'not sent' } as const;

function $<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el as T;
}

const ui = {
  me: $<HTMLParagraphElement>('me'),
  conn: $<HTMLParagraphElement>('conn-state'),
  logout: $<HTMLButtonElement>('logout'),
  loginView: $<HTMLElement>('login-view'),
  loginForm: $<HTMLFormElement>('login-form'),
  userName: $<HTMLInputElement>('user-name'),
  password: $<HTMLInputElement>('password'),
  loginError: $<HTMLParagraphElement>('login-error'),
  chatView: $<HTMLDivElement>('chat-view'),
  conversations: $<HTMLUListElement>('conversations'),
  roomTitle: $<HTMLHeadingElement>('room-title'),
  roomInfo: $<HTMLParagraphElement>('room-info'),
  messages: $<HTMLOListElement>('messages'),
  composer: $<HTMLFormElement>('composer'),
  input: $<HTMLInputElement>('message-input'),
  chatError: $<HTMLParagraphElement>('chat-error'),
};

let client: CimClient | undefined;
let model = new Conversations();
let online = new Set<number>();
let pollTimer: ReturnType<typeof setInterval> | undefined;
const groupsPanel = setupGroupsPanel({
  client: () => client,
  model: () => model,
  open: (key) => openConversation(key),
  changed: () => renderConversations(),
});

function errorText(err: unknown, signingUp = false): string {
  if (err instanceof CimClientError) {
    // 9304: the name exists with another password: on sign-up the name is taken, on log-in the password is wrong.
    if (err.serverCode === '9304') return signingUp ? 'This name is taken: choose another, or log in.' : 'Wrong name or password.';
    if (err.serverCode === '9301' || err.serverCode === '9300') return 'Wrong name or password.';
    if (err.serverCode === '5000') return 'This account is already signed in elsewhere.';
    if (err.serverCode === '9302') return 'Too many failed attempts: try again in a few minutes.';
  }
  return err instanceof Error ? err.message : String(err);
}

/** How this page reaches its server: the route's relay (default) or, with ?via=auto, directly when it can. */
let via: Via = 'route';

function showState(state: ClientState, change?: StateChange): void {
  ui.conn.dataset['state'] = state;
  const retry = state === 'reconnecting' && change?.attempt ? ` (attempt ${change.attempt})` : '';
  ui.conn.textContent = STATE_TEXT[state] + retry;
  ui.conn.title = change?.reason ?? '';
  // Which server holds the connection (host:httpPort), for support and tests; kept while reconnecting.
  if (state === 'ready' && change?.server) {
    const relayed = usesRelay(via, location.origin, change.server);
    ui.conn.dataset['server'] = `${change.server.ip}:${change.server.httpPort}`;
    ui.conn.dataset['path'] = relayed ? 'relay' : 'direct';
    ui.conn.title = `connected to ${ui.conn.dataset['server']} ${relayed ? 'through the route' : 'directly'}`;
  }
}

// ── sign in ───────────────────────────────────────────────────────────────────────────────────────────

ui.loginForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const signup = (event.submitter as HTMLButtonElement | null)?.value === 'signup';
  void signIn(signup);
});

/**
 * This tab's device id for clusters with --login-policy multi: kept for the tab's life (a reload keeps its inbox),
 * a new one per tab, so two tabs are two devices rather than one replacing the other.
 */
function tabDevice(): string {
  const stored = sessionStorage.getItem('cim-device');
  if (stored !== null && /^[A-Za-z0-9_-]{1,64}$/.test(stored)) return stored;
  const id = randomUUID();
  sessionStorage.setItem('cim-device', id);
  return id;
}

async function signIn(signup: boolean): Promise<void> {
  const userName = ui.userName.value.trim();
  const password = ui.password.value;
  if (!/^[^\s;]{1,64}$/u.test(userName)) return loginFailed('A name is 1 to 64 characters, without spaces or “;”.', ui.userName);
  if (password.length < 8) return loginFailed('A password has at least 8 characters.', ui.password);
  ui.loginError.textContent = '';
  setBusy(true);
  const routeUrl = location.origin;
  // A browser's fetch must be called on window: the SDK calls its fetch as a method of RouteApi.
  const fetch: typeof globalThis.fetch = (input, init) => globalThis.fetch(input, init);
  try {
    // Sign up registers explicitly (so a taken name says so); log in lets the SDK look the account up.
    if (signup) await new RouteApi({ routeUrl, timeoutMs: 5_000, fetch }).registerAccount(userName, undefined, password);
    via = new URLSearchParams(location.search).get('via') === 'auto' ? 'auto' : 'route';
    const c = new CimClient({ routeUrl, userName, password, via, fetch, onMessage, device: tabDevice() });
    c.on('state', (change) => onState(c, change));
    c.on('receipt', (receipt) => {
      if (model.receipt(receipt)) renderMessages();
    });
    c.on('error', (err) => (ui.chatError.textContent = errorText(err)));
    client = c;
    showState('connecting');
    await c.connect();
    enterChat(c);
  } catch (err) {
    client = undefined;
    showState('idle');
    loginFailed(errorText(err, signup), ui.password);
  } finally {
    setBusy(false);
  }
}

function loginFailed(text: string, focus: HTMLInputElement): void {
  ui.loginError.textContent = text;
  focus.focus();
}

function setBusy(busy: boolean): void {
  for (const b of ui.loginForm.querySelectorAll('button')) b.disabled = busy;
  ui.loginForm.setAttribute('aria-busy', String(busy));
}

function enterChat(c: CimClient): void {
  ui.me.textContent = `${c.userName}`;
  ui.me.hidden = false;
  ui.logout.hidden = false;
  ui.loginView.hidden = true;
  ui.chatView.hidden = false;
  ui.password.value = '';
  render();
  ui.input.focus();
  void refreshOnline();
  void groupsPanel.refresh();
  pollTimer = setInterval(() => void refreshOnline(), ONLINE_POLL_MS);
}

ui.logout.addEventListener('click', () => void logout());

async function logout(): Promise<void> {
  const c = client;
  client = undefined;
  clearInterval(pollTimer);
  await c?.close();
  model = new Conversations();
  online = new Set();
  groupsPanel.reset();
  ui.chatView.hidden = true;
  ui.loginView.hidden = false;
  ui.me.hidden = true;
  ui.logout.hidden = true;
  ui.chatError.textContent = '';
  showState('idle');
  ui.userName.focus();
}

// ── events from the SDK ───────────────────────────────────────────────────────────────────────────────

function onState(c: CimClient, change: StateChange): void {
  if (c !== client) return;
  showState(change.to, change);
  if (change.to === 'ready') {
    ui.chatError.textContent = '';
    void refreshOnline();
    void groupsPanel.refresh(); // groups joined meanwhile (another device)
  }
  if (change.to === 'closed' && client === c && !ui.chatView.hidden) ui.chatError.textContent = `Disconnected: ${change.reason ?? 'closed'}. Log out and sign in again.`;
}

function onMessage(message: ChatMessage): void {
  const unknownGroup = message.groupId !== undefined && model.get(groupKey(message.groupId)) === undefined;
  const { conversation, seen } = model.receive(message, (key) => key === model.active && document.visibilityState === 'visible' && !ui.chatView.hidden);
  if (seen && message.chatType === 'private') client?.markRead([message]);
  if (conversation.key === model.active) renderMessages();
  renderConversations();
  // A group joined or invited to elsewhere: its name comes with this user's list of groups.
  if (unknownGroup) void groupsPanel.refresh();
  // A live message from someone the last poll did not list: they are online now, ask again.
  if (!message.offline && !online.has(message.from.userId)) void refreshOnline();
}

async function refreshOnline(): Promise<void> {
  const c = client;
  if (!c || c.state !== 'ready') return;
  try {
    const users = await c.onlineUsers();
    online = new Set(users.map((u) => u.userId));
    for (const u of users) if (u.userId !== c.userId) model.withUser(u.userId, u.userName);
    renderConversations();
  } catch {
    // The next poll tries again; the state line already says when the connection is gone.
  }
}

// When the tab comes back into view, what the open conversation received meanwhile is read.
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && client) openConversation(model.active, false);
});

// ── conversations and sending ─────────────────────────────────────────────────────────────────────────

function openConversation(key: ConversationKey, focus = true): void {
  const toMark = model.open(key);
  if (toMark.length > 0) client?.markRead(toMark);
  render();
  if (focus) ui.input.focus();
  void loadHistory(key);
}

/**
 * The first time a private conversation or a named group is opened: what the server kept of it (another
 * device, an earlier visit, a group's messages from before this user joined).
 */
async function loadHistory(key: ConversationKey): Promise<void> {
  const c = client;
  const conversation = model.get(key);
  if (!c || !conversation || conversation.historyRequested) return;
  const peer = conversation.peerId ?? (conversation.groupId !== undefined ? { groupId: conversation.groupId } : undefined);
  if (peer === undefined) return; // "everyone online" is live only
  conversation.historyRequested = true;
  const current = model;
  try {
    const page = await c.history(peer, { limit: 100 });
    if (model !== current || client !== c) return; // logged out meanwhile
    model.mergeHistory(key, page.messages, c.userId);
    if (model.active === key) renderMessages();
  } catch {
    conversation.historyRequested = false; // try again at the next open
  }
}

ui.conversations.addEventListener('click', (event) => {
  const button = (event.target as Element).closest<HTMLButtonElement>('button[data-key]');
  if (button) openConversation(button.dataset['key'] as ConversationKey);
});

// Alt+↑ / Alt+↓ move between conversations from anywhere on the page.
document.addEventListener('keydown', (event) => {
  if (!event.altKey || (event.key !== 'ArrowUp' && event.key !== 'ArrowDown') || ui.chatView.hidden) return;
  event.preventDefault();
  const keys = model.list().map((c) => c.key);
  const i = keys.indexOf(model.active);
  const next = keys[(i + (event.key === 'ArrowDown' ? 1 : keys.length - 1)) % keys.length];
  if (next) openConversation(next);
});

ui.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = ui.input.value.trim();
  const c = client;
  if (!text || !c) return;
  ui.input.value = '';
  const conversation = model.get(model.active)!;
  const msgId = randomUUID();
  model.send(conversation.key, msgId, c.userName, text, Date.now());
  renderMessages();
  const { peerId, groupId } = conversation;
  const sending = groupId !== undefined ? c.sendToGroup(groupId, text, { msgId }) : peerId === undefined ? c.sendGroup(text, { msgId }) : c.sendPrivate(peerId, text, { msgId });
  const sentTo = model;
  sending.then(
    (result) => {
      if (sentTo !== model) return;
      // A named group's message takes its place (gseq) among the others before it shows as sent.
      if (result.gseq !== undefined) model.placeSent(conversation.key, msgId, result.gseq);
      if (model.mark(msgId, 'sent') || result.gseq !== undefined) renderMessages();
    },
    (err: unknown) => model.mark(msgId, 'failed', errorText(err)) && renderMessages(),
  );
});

// ── rendering ─────────────────────────────────────────────────────────────────────────────────────────

function render(): void {
  renderConversations();
  renderMessages();
}

function renderConversations(): void {
  const items = model.list().map((c) => conversationItem(c));
  ui.conversations.replaceChildren(...items);
}

function conversationItem(c: Conversation): HTMLLIElement {
  const li = document.createElement('li');
  const button = document.createElement('button');
  button.type = 'button';
  button.dataset['key'] = c.key;
  button.className = 'conversation';
  if (c.key === model.active) button.setAttribute('aria-current', 'true');
  const isOnline = c.peerId === undefined || online.has(c.peerId);
  const dot = document.createElement('span');
  dot.setAttribute('aria-hidden', 'true');
  if (c.groupId !== undefined) {
    // A named group: "#" instead of a presence dot; its id is what others need to join.
    dot.className = 'group-mark';
    dot.textContent = '#';
    button.dataset['groupId'] = String(c.groupId);
    button.title = `Group id ${c.groupId}`;
  } else dot.className = `presence ${isOnline ? 'on' : 'off'}`;
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = c.title;
  button.append(dot, name);
  const label = [c.title, c.groupId !== undefined ? `group ${c.groupId}` : c.peerId === undefined ? 'group' : isOnline ? 'online' : 'offline'];
  if (c.unread > 0) {
    const badge = document.createElement('span');
    badge.className = 'badge';
    badge.textContent = c.unread > 99 ? '99+' : String(c.unread);
    badge.dataset['unread'] = String(c.unread);
    button.append(badge);
    label.push(`${c.unread} unread`);
  }
  button.setAttribute('aria-label', label.join(', '));
  li.append(button);
  return li;
}

function renderMessages(): void {
  const c = model.get(model.active)!;
  ui.roomTitle.textContent = c.title;
  ui.roomInfo.hidden = c.groupId === undefined;
  if (c.groupId !== undefined) {
    ui.roomInfo.dataset['groupId'] = String(c.groupId);
    ui.roomInfo.textContent = `Group id ${c.groupId}: others join with it.`;
  } else delete ui.roomInfo.dataset['groupId'];
  ui.input.placeholder = c.groupId !== undefined ? `Message #${c.title}` : c.peerId === undefined ? 'Message everyone online' : `Message ${c.title}`;
  const atBottom = ui.messages.scrollHeight - ui.messages.scrollTop - ui.messages.clientHeight < 40;
  ui.messages.replaceChildren(...c.lines.map(lineItem));
  if (atBottom || c.lines.at(-1)?.mine) ui.messages.scrollTop = ui.messages.scrollHeight;
}

function lineItem(line: Line): HTMLLIElement {
  const li = document.createElement('li');
  li.className = line.mine ? 'line mine' : 'line';
  li.dataset['msgId'] = line.msgId;
  const meta = document.createElement('span');
  meta.className = 'meta';
  const who = document.createElement('span');
  who.className = 'author';
  who.textContent = line.mine ? 'You' : line.author;
  const time = document.createElement('time');
  time.dateTime = new Date(line.at).toISOString();
  time.textContent = new Date(line.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  meta.append(who, ' · ', time);
  const text = document.createElement('span');
  text.className = 'text';
  text.textContent = line.text;
  li.append(meta, text);
  if (line.mark) {
    const mark = document.createElement('span');
    mark.className = `mark ${line.mark}`;
    mark.dataset['mark'] = line.mark;
    mark.textContent = MARK_TEXT[line.mark];
    if (line.error) mark.title = line.error;
    li.append(mark);
  }
  return li;
}

showState('idle');
ui.userName.focus();
