/**
 * The interactive part of `cim chat`: reads lines, runs commands, sends messages, prints what arrives.
 * Input is handled one line at a time and in order (a send is awaited before the next line), so piped
 * input (`--once`) goes out in the order it was written. Nothing a user types can end the loop except
 * `:q!`, Ctrl-C/Ctrl-D on a terminal, or the end of input with --once.
 */
import { createInterface, clearLine, cursorTo, type Interface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type { CimClient, ChatMessage, ReceiptEvent, SendResult, StateChange } from '../index.ts';
import { isCimClientError, ClientErrorCode } from '../sdk/errors.ts';
import { AI_FAREWELL, AI_GREETING, aiReply } from './ai.ts';
import { parseLine, type Action, type SendAction } from './commands.ts';
import { contactCommand, groupCommand } from './social.ts';
import { DelayedSends } from './delayed-sends.ts';
import { seenKey } from '../sdk/seen-store.ts';
import { GROUP_PEER, type History } from './history.ts';
import { receiptJson, ReceiptView } from './receipts.ts';
import { emojiPage, formatHelp, formatHistoryMessage, formatIncoming, formatOnlineUsers, formatOutgoing, formatPresence, formatTime, highlight, messageJson, presenceJson } from './render.ts';
import { AttachmentShelf, formatAttachment, getFileCommand, sendFileCommand } from './attachments.ts';

export interface ShellOptions {
  readonly client: CimClient;
  readonly history: History;
  readonly stdin: Readable;
  readonly stdout: Writable & { isTTY?: boolean };
  readonly stderr: Writable;
  /** Prompt and line editing (stdin and stdout are terminals). */
  readonly interactive: boolean;
  readonly color: boolean;
  /** Received messages as JSON lines on stdout; everything else goes to stderr. */
  readonly json: boolean;
  /** Send what stdin holds and exit at its end. */
  readonly once: boolean;
  readonly routeUrl: string;
  /** Brackets each display so a message being printed when the process died is shown again flagged (seen-file.ts). */
  readonly displayJournal?: DisplayJournal;
}

export interface DisplayJournal {
  begin(key: string): void;
  wasInterrupted(key: string): boolean;
}

export class ChatShell {
  readonly #o: ShellOptions;
  readonly #client: CimClient;
  #rl: Interface | undefined;
  #aiMode = false;
  /** named groups' names seen in :groups, :create, :members (incoming group messages show them) */
  readonly #groupNames = new Map<number, string>();
  #failures = 0;
  #finished = false;
  #resolveExit: (code: number) => void = () => {};
  readonly #delayed = new DelayedSends<SendAction>((message) => this.#handleSend(message));
  readonly #receipts = new ReceiptView();
  /** attachments of shown file messages, for :get */
  readonly #files = new AttachmentShelf();
  /** displayed private messages whose READ goes out on the next tick */
  #unread: ChatMessage[] = [];

  #started = false;
  #inputClosed = false;
  #readyBefore = false;

  /** Listens to the client at once, so messages pushed right after its login are shown. */
  constructor(options: ShellOptions) {
    this.#o = options;
    this.#client = options.client;
    this.#client.on('message', (m) => this.#onMessage(m));
    this.#client.on('state', (s) => this.#onState(s));
    this.#client.on('receipt', (r) => this.#onReceipt(r));
    this.#client.on('presence', (p) => (this.#o.json ? this.#write(this.#o.stdout, presenceJson(p)) : this.#print(formatPresence(p))));
    this.#client.on('error', (err) => this.#print(`! ${err.message}`));
  }

  /** Runs until quit; resolves with the process exit code. */
  run(): Promise<number> {
    const exit = new Promise<number>((resolve) => (this.#resolveExit = resolve));
    this.#started = true;
    if (this.#client.state === 'closed') {
      this.#resolveExit(1);
      return exit;
    }
    const rl = createInterface({ input: this.#o.stdin, output: this.#o.interactive ? this.#o.stdout : undefined, terminal: this.#o.interactive });
    this.#rl = rl;
    rl.on('close', () => (this.#inputClosed = true));
    if (this.#o.interactive) {
      rl.setPrompt(`${this.#client.userName}> `);
      rl.on('SIGINT', () => void this.quit(0));
    }
    if (!this.#o.once) {
      const info = this.#client.info();
      this.#print(`* logged in as ${info.userName} (userId ${info.userId}) via ${info.remote ?? '?'}${this.#client.protocol === 'cim' ? " (CIM's protocol)" : ''}; type :all for commands`);
    }
    void this.#readLoop(rl);
    return exit;
  }

  async #readLoop(rl: Interface): Promise<void> {
    this.#prompt();
    try {
      for await (const line of rl) {
        if (this.#finished) break;
        await this.#handleLine(line);
        if (this.#finished) break;
        this.#prompt();
      }
    } catch (err) {
      this.#print(`! input error: ${(err as Error).message}`);
    }
    if (this.#finished) return;
    if (this.#o.once) {
      await this.#delayed.settled();
      await this.quit(this.#failures > 0 ? 1 : 0);
    } else if (this.#o.interactive) {
      await this.quit(0); // Ctrl-D
    } else {
      this.#print('* end of input; still receiving (send SIGTERM or SIGINT to quit)');
    }
  }

  #prompt(): void {
    // Prompting a closed readline throws (stdin may end while a send is still running).
    if (this.#o.interactive && !this.#inputClosed) this.#rl?.prompt();
  }

  /** Cancels delayed messages, logs out, flushes history. */
  async quit(code: number): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    const cancelled = this.#delayed.cancelAll();
    if (cancelled > 0) this.#print(`* cancelled ${cancelled} delayed message(s)`);
    this.#print('* logging out');
    await this.#client.close();
    await this.#o.history.flush();
    this.#rl?.close();
    this.#print('* bye');
    this.#resolveExit(code);
  }

  async #handleLine(line: string): Promise<void> {
    try {
      await this.#run(parseLine(line));
    } catch (err) {
      // Whatever goes wrong, the loop goes on (CIM's loop died on the first exception).
      this.#print(`! ${(err as Error).message}`);
    }
  }

  async #run(action: Action): Promise<void> {
    switch (action.kind) {
      case 'empty':
        return;
      case 'quit':
        await this.quit(0);
        return;
      case 'help':
        if (action.unknown !== undefined) this.#print(`! unknown command ${action.unknown}; the commands are:`);
        for (const line of formatHelp()) this.#print(line);
        return;
      case 'usage':
        this.#print(`! ${action.message}`);
        return;
      case 'online': {
        const users = await this.#client.onlineUsers();
        for (const line of formatOnlineUsers(users, this.#client.userId)) this.#print(line);
        return;
      }
      case 'prefix': {
        const users = (await this.#client.onlineUsers()).filter((u) => u.userName.startsWith(action.prefix));
        if (users.length === 0) this.#print(`no online user name starts with "${action.prefix}"`);
        for (const u of users) this.#print(`${highlight(u.userName, action.prefix, this.#o.color)} (userId ${u.userId})`);
        return;
      }
      case 'search': {
        const lines = await this.#o.history.search(action.keyword);
        if (lines.length === 0) this.#print(`no history line contains "${action.keyword}"`);
        for (const line of lines) this.#print(highlight(line.replaceAll('\t', '  '), action.keyword, this.#o.color));
        return;
      }
      case 'serverHistory': {
        const page = await this.#client.history(action.peer, { limit: action.count });
        if (!page.enabled) this.#print('! this cluster keeps no server-side history (--history-max 0)');
        else if (page.messages.length === 0) this.#print(`no messages with ${action.peer} on the server`);
        for (const m of page.messages) this.#print(formatHistoryMessage(m, this.#client.userId));
        return;
      }
      case 'info': {
        const info = this.#client.info();
        this.#print(`userName=${info.userName} userId=${info.userId} state=${info.state} transport=${info.transport}`);
        this.#print(`route=${this.#o.routeUrl} server=${info.remote ?? 'none'} reconnects=${info.reconnects}`);
        this.#print(`history=${this.#o.history.dir} aiMode=${this.#aiMode ? 'on' : 'off'} delayed=${this.#delayed.size} pendingSends=${info.pendingSends}`);
        return;
      }
      case 'emoji': {
        const page = emojiPage(action.page);
        if (page.lines.length === 0) this.#print(`! usage: :emoji [PAGE] (PAGE is 1..${page.pages})`);
        for (const line of page.lines) this.#print(line);
        return;
      }
      case 'aiOn':
        this.#aiMode = true;
        this.#print(highlight(AI_GREETING, AI_GREETING, this.#o.color));
        return;
      case 'aiOff':
        this.#aiMode = false;
        this.#print(AI_FAREWELL);
        return;
      case 'delay':
        if (action.note) this.#print(`* ${action.note}`);
        this.#print(`* delayed message #${this.#delayed.schedule(action.seconds, action.message)} will be sent in ${action.seconds} s`);
        return;
      case 'group':
      case 'private':
      case 'privateByName':
      case 'toGroup':
        await this.#send(action);
        return;
      case 'group-command':
      case 'contact-command':
        try {
          const lines = action.kind === 'group-command' ? await groupCommand(this.#client, action.command, this.#groupNames) : await contactCommand(this.#client, action.command);
          for (const line of lines) this.#print(line);
        } catch (err) {
          this.#print(`! ${(err as Error).message}`);
        }
        return;
      case 'file':
      case 'get':
        // A refusal (7500 too large, 7510 type, 7520 forbidden…) counts as a failed send for --once's exit code.
        try {
          const lines = action.kind === 'file' ? await sendFileCommand(this.#client, action.to, action.path) : await getFileCommand(this.#client, this.#files, action.id, action.dir);
          for (const line of lines) this.#print(line);
        } catch (err) {
          this.#failures++;
          throw err;
        }
        return;
    }
  }

  async #handleSend(message: SendAction): Promise<void> {
    try {
      await this.#send(message);
    } catch (err) {
      this.#print(`! ${(err as Error).message}`);
    }
  }

  async #send(action: SendAction): Promise<void> {
    if (this.#aiMode) {
      this.#print(highlight(`AI: ${aiReply(action.text)}`, 'AI:', this.#o.color));
      return;
    }
    const client = this.#client;
    let peer: string;
    let sent: SendResult;
    try {
      if (action.kind === 'group') {
        sent = await client.sendGroup(action.text);
        peer = GROUP_PEER;
      } else if (action.kind === 'toGroup') {
        sent = await client.sendToGroup(action.groupId, action.text);
        peer = `#${this.#groupNames.get(action.groupId) ?? action.groupId}`;
      } else if (action.kind === 'private') {
        sent = await client.sendPrivate(action.to, action.text);
        peer = `#${action.to}`;
      } else {
        const user = (await client.onlineUsers()).find((u) => u.userName === action.userName);
        if (!user) {
          this.#failures++;
          this.#print(`! ${action.userName} is not online; message not sent`);
          return;
        }
        sent = await client.sendPrivate(user.userId, action.text);
        peer = `${user.userName}(${user.userId})`;
      }
    } catch (err) {
      this.#failures++;
      if (isCimClientError(err, ClientErrorCode.RECEIVER_UNKNOWN)) {
        this.#print(`! ${action.kind === 'private' ? `user ${action.to}` : 'the receiver'} does not exist; message not sent`);
        return;
      }
      if (isCimClientError(err, ClientErrorCode.RECEIVER_OFFLINE)) {
        this.#print(`! ${action.kind === 'private' ? `user ${action.to}` : 'the receiver'} is offline; message not delivered`);
        return;
      }
      throw err;
    }
    const now = new Date();
    this.#o.history.append({ at: now, direction: 'out', peer, text: action.text });
    this.#print(formatOutgoing(now, peer === GROUP_PEER ? 'all' : peer, action.text));
    if (peer === GROUP_PEER) return;
    this.#receipts.noteSent(sent.msgId, peer, action.text);
    if (sent.online === false) this.#print(`* ${peer} is offline; the message waits in their inbox`);
  }

  #onReceipt(receipt: ReceiptEvent): void {
    if (this.#o.json) this.#write(this.#o.stdout, receiptJson(receipt));
    const line = this.#receipts.line(receipt);
    if (line !== undefined && !this.#o.json) this.#print(line);
  }

  #onMessage(message: ChatMessage): void {
    const carbon = message.carbonTo !== undefined;
    const peer = carbon ? `#${message.carbonTo}` : `${message.from.userName || 'nobody'}(${message.from.userId})`;
    this.#o.history.append({ at: new Date(message.receivedAt), direction: carbon ? 'out' : 'in', peer, text: message.text });
    const key = message.msgId !== undefined ? seenKey(message.from.userId, message.msgId) : undefined;
    const reshown = key !== undefined && this.#o.displayJournal?.wasInterrupted(key) === true;
    if (key !== undefined) this.#o.displayJournal?.begin(key);
    if (this.#o.json) this.#write(this.#o.stdout, messageJson(message, reshown));
    else this.#print(formatIncoming(message, message.groupId !== undefined ? this.#groupNames.get(message.groupId) : undefined) + (reshown ? '  (again: cim chat stopped while showing it)' : ''));
    const fileId = this.#files.remember(message);
    if (fileId !== undefined && message.attachment) this.#print(formatAttachment(message.attachment, fileId));
    // Displayed = read: tell the sender (best effort; group messages have no read receipts). After this
    // listener returns, so the SDK has queued the delivered ack, which markRead sends first.
    if (message.chatType !== 'private' || carbon) return;
    // One READ per sender per tick, not one per message: a replayed inbox displays hundreds at once.
    this.#unread.push(message);
    if (this.#unread.length === 1) {
      setImmediate(() => {
        const read = this.#unread;
        this.#unread = [];
        this.#client.markRead(read);
      });
    }
  }

  #onState(change: StateChange): void {
    if (this.#finished) return;
    if (change.to === 'ready' && !this.#readyBefore) {
      this.#readyBefore = true;
      return;
    }
    if (!this.#started) return;
    const at = formatTime(new Date());
    if (change.to === 'reconnecting') {
      this.#print(`* [${at}] connection lost (${change.reason ?? 'unknown'}); reconnecting in ${((change.delayMs ?? 0) / 1000).toFixed(1)} s (attempt ${change.attempt ?? 1})`);
    } else if (change.to === 'ready') {
      this.#print(`* [${at}] reconnected via ${this.#client.info().remote ?? '?'}`);
    } else if (change.to === 'closed') {
      this.#print(`! connection closed: ${change.reason ?? ''}`);
      void this.quit(1);
    }
  }

  /** Human output: stdout, or stderr in --json mode, so stdout stays pure JSON lines. */
  #print(line: string): void {
    this.#write(this.#o.json ? this.#o.stderr : this.#o.stdout, line);
  }

  /** Writes a line without breaking the prompt: clear the input line, print, redraw prompt + typed text. */
  #write(stream: Writable, line: string): void {
    const rl = this.#rl;
    if (this.#o.interactive && rl && stream === this.#o.stdout && !this.#finished && !this.#inputClosed) {
      clearLine(this.#o.stdout, 0);
      cursorTo(this.#o.stdout, 0);
      stream.write(`${line}\n`);
      rl.prompt(true);
      return;
    }
    stream.write(`${line}\n`);
  }
}

