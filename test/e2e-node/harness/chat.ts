/**
 * `cim chat` as a user runs it (bin/cim, the checkout's command), driven through stdin. `--json` puts every received
 * message on stdout as a JSON line; the human lines (login, sent marks, reconnects, errors) go to stderr. Everything
 * is kept and counted, and both streams are written to a log file for the test's artifacts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { REPO_ROOT } from '../../e2e/harness/control-plane.ts';
import { waitFor, WaitAborted } from '../../e2e/harness/processes.ts';

export interface Received {
  text: string;
  from: { userId: number; userName: string };
  to?: unknown;
  offline: boolean;
}

export interface ChatOptions {
  route: string;
  user: string;
  logDir: string;
  via?: 'route' | 'direct' | 'auto';
  /** Run as another program, e.g. `nsenter -t PID -n` (a client inside the node's network namespace). */
  wrapper?: string[];
  /** CIM_PASSWORD of the user (default: derived from the name, so the same user logs in again). */
  password?: string;
}

export class ChatUser {
  readonly received: Received[] = [];
  readonly lines: string[] = [];
  userId = 0;
  readonly #child: ChildProcess;
  readonly #home: string;
  #exit: number | null | undefined;
  readonly exited: Promise<number | null>;

  readonly name: string;

  constructor(name: string, opts: ChatOptions) {
    this.name = name;
    this.#home = mkdtempSync(join(tmpdir(), `cim-e2e-chat-${name}-`));
    const args = ['chat', '--route', opts.route, '--user', name, '--via', opts.via ?? 'route', '--json', '--color', 'never', '--history-dir', this.#home, '--log-level', 'warn'];
    const cmd = [...(opts.wrapper ?? []), join(REPO_ROOT, 'bin/cim'), ...args];
    // A route with login tokens (auth enabled) also asks for a password: the first login sets it, later ones check it.
    const env = { ...process.env, NO_COLOR: '1', CIM_PASSWORD: opts.password ?? `e2e-${name}-password` };
    this.#child = spawn(cmd[0] ?? '', cmd.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env });
    const log = createWriteStream(join(opts.logDir, `chat-${name}.log`), { flags: 'a' });
    createInterface({ input: this.#child.stdout! }).on('line', (line) => {
      log.write(`out ${line}\n`);
      try {
        const m = JSON.parse(line) as { type?: string } & Received;
        if (m.type === 'message') this.received.push(m);
      } catch {
        this.lines.push(line);
      }
    });
    createInterface({ input: this.#child.stderr! }).on('line', (line) => {
      log.write(`err ${line}\n`);
      this.lines.push(line);
      const login = /^\* logged in as \S+ \(userId (\d+)\)/.exec(line);
      if (login) this.userId = Number(login[1]);
    });
    const killOnExit = () => this.#child.kill('SIGKILL');
    process.once('exit', killOnExit);
    this.exited = new Promise((resolve) => {
      this.#child.once('exit', (code, signal) => {
        process.off('exit', killOnExit);
        this.#exit = code ?? (signal ? -1 : null);
        log.end();
        resolve(this.#exit);
      });
    });
  }

  static async start(name: string, opts: ChatOptions): Promise<ChatUser> {
    const u = new ChatUser(name, opts);
    try {
      await waitFor(`${name} logged in`, () => u.#alive() && u.userId > 0, { timeoutMs: 60_000, describe: () => u.lines.slice(-10).join('\n') });
    } catch (err) {
      await u.stop();
      throw err;
    }
    return u;
  }

  #alive(): boolean {
    if (this.#exit !== undefined) throw new WaitAborted(`cim chat of ${this.name} exited (${String(this.#exit)}):\n${this.lines.slice(-15).join('\n')}`);
    return true;
  }

  /** Types one line (a plain line is a group message, `ID;;text` a private one). */
  type(line: string): void {
    this.#child.stdin!.write(`${line}\n`);
  }

  /** Sends and waits for the sent mark (the server accepted it), or fails on an error line about it. */
  async send(line: string, text: string, timeoutMs = 60_000): Promise<void> {
    const from = this.lines.length;
    this.type(line);
    await waitFor(
      `${this.name} sent "${text}"`,
      () => {
        this.#alive();
        const mine = this.lines.slice(from);
        if (mine.some((l) => l.includes('✓ you ->') && l.endsWith(`: ${text}`))) return true;
        const err = mine.find((l) => l.startsWith('! '));
        if (err) throw new WaitAborted(`${this.name} could not send "${text}": ${err}`);
        return false;
      },
      { timeoutMs, describe: () => this.lines.slice(-10).join('\n') },
    );
  }

  count(prefix: string): number {
    return this.received.filter((m) => m.text.startsWith(prefix)).length;
  }

  texts(prefix: string): string[] {
    return this.received.filter((m) => m.text.startsWith(prefix)).map((m) => m.text);
  }

  reconnects(): number {
    return this.lines.filter((l) => l.includes('] reconnected via')).length;
  }

  async stop(): Promise<void> {
    if (this.#exit === undefined) {
      this.#child.kill('SIGTERM');
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
      await this.exited;
      clearTimeout(timer);
    }
    rmSync(this.#home, { recursive: true, force: true });
  }
}
