/**
 * `cim chat`: the console client. Shell only: options, logger, client, history, then ChatShell.
 * Exit codes: 0 done, 1 login failed / connection given up / a --once send failed, 2 bad options.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { createLogger, LOG_LEVELS, type Logger, type LogLevel } from '../../../common/src/log.ts';
import { HelpRequested, OptionsError, parseOptions, type OptionSpecs } from '../../../common/src/options.ts';
import { CimClient } from '../sdk/client.ts';
import type { Protocol } from '../sdk/cim-mode.ts';
import { tlsFetch, type Via } from '../sdk/transport.ts';
import { defaultHistoryDir, History } from './history.ts';
import { deviceIdOf } from './device-file.ts';
import { FileSeenStore } from './seen-file.ts';
import { makeWritesSynchronous } from './stdout-sync.ts';
import { ChatShell } from './shell.ts';

export const CHAT_OPTIONS = {
  route: { type: 'string', description: 'base URL of cim-route', default: 'http://127.0.0.1:8083' },
  user: { type: 'string', description: 'your user name (registered on first use)' },
  userId: { type: 'int', description: 'your user id, when you know it (skips the lookup by name)', optional: true, min: 1 },
  password: { type: 'string', description: 'your password (route in password mode); better in CIM_PASSWORD, or typed at the prompt (not echoed) when interactive', optional: true },
  idTokenFile: { type: 'string', description: 'file holding an OIDC id token to log in with instead of a password (route with --auth-jwks-url); re-read at each login, so a renewed token is picked up', optional: true },
  transport: { type: 'string', description: 'connection to cim-server', choices: ['ws', 'tcp'], default: 'ws' },
  protocol: { type: 'string', description: "cim: CIM's own client protocol (TCP, sends over the route's HTTP API), for a CIM deployment; native: this project's; auto: cim when the route's /login answer has no protocol-2 fields", choices: ['auto', 'cim', 'native'], default: 'auto' },
  via: { type: 'string', description: 'WebSocket to the server directly, through the route\'s relay, or auto (relay when --route is loopback, e.g. a kubectl port-forward, and the server is not)', choices: ['auto', 'direct', 'route'], default: 'auto' },
  heartbeat: { type: 'number', description: 'seconds between PINGs (CIM: 10)', default: 10, min: 0.05, max: 3600 },
  historyDir: { type: 'string', description: 'chat history root (default: $XDG_DATA_HOME/cim/history)', optional: true },
  device: { type: 'string', description: 'this installation\'s device id for clusters with --login-policy multi (default: one made on first use and kept in the history directory)', optional: true },
  once: { type: 'boolean', description: 'send the lines of stdin, then log out and exit', default: false },
  json: { type: 'boolean', description: 'print received messages and receipts as JSON lines on stdout (other output goes to stderr)', default: false },
  color: { type: 'string', description: 'highlighting', choices: ['auto', 'always', 'never'], default: 'auto' },
  logLevel: { type: 'string', description: 'client log level (JSON logs on stderr; the chat itself reports reconnects)', choices: [...LOG_LEVELS], default: 'error' },
  ca: { type: 'string', description: 'PEM file of the CA that signed the route\'s and servers\' TLS certificates (https:// route, wss://); default: Node\'s bundled CAs', optional: true },
  insecure: { type: 'boolean', description: 'accept any TLS certificate, unverified: FOR TESTING ONLY (anyone on the path can read and change the chat)', default: false },
} as const satisfies OptionSpecs;

export interface ChatIo {
  readonly stdin: Readable & { isTTY?: boolean };
  readonly stdout: Writable & { isTTY?: boolean };
  readonly stderr: Writable;
  /** Quit cleanly on SIGINT/SIGTERM (only for a real process). */
  readonly handleSignals: boolean;
  /** The HTTP client for the route; tests inject one (see testing/test-cim.ts). */
  readonly fetch?: typeof fetch;
}

/** The persisted seen-store, next to the user's history files. */
export const SEEN_FILE = 'seen-msgids';

const processIo = (): ChatIo => {
  // A message counts as shown (seen-file, ack) once its line is written: make that mean "in the pipe".
  makeWritesSynchronous(process.stdout);
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, handleSignals: true };
};

/** @param argv the arguments after `cim chat`. */
export async function main(argv: string[], env: NodeJS.ProcessEnv, io: ChatIo = processIo()): Promise<number> {
  let options;
  try {
    ({ options } = parseOptions(CHAT_OPTIONS, argv, env, {
      command: 'cim chat',
      summary: 'Chat from the console: plain line = group message, USERID;;TEXT or @NAME TEXT = private, :all lists the commands.',
    }));
  } catch (err) {
    if (err instanceof HelpRequested) {
      io.stdout.write(`${err.text}\n`);
      return 0;
    }
    if (err instanceof OptionsError) {
      io.stderr.write(`cim chat: ${err.problems.join('\n  ')}\nTry "cim chat --help".\n`);
      return 2;
    }
    throw err;
  }

  const logger: Logger = createLogger('cim-chat', options.logLevel as LogLevel, io.stderr);
  const color = options.color === 'always' || (options.color === 'auto' && io.stdout.isTTY === true && env['NO_COLOR'] === undefined);
  const interactive = !options.once && io.stdin.isTTY === true && io.stdout.isTTY === true;
  const historyRoot = options.historyDir ?? defaultHistoryDir(env);

  let ca: Buffer | undefined;
  if (options.ca !== undefined) {
    try {
      ca = readFileSync(options.ca);
    } catch (err) {
      io.stderr.write(`cim chat: --ca ${options.ca}: ${(err as Error).message}\n`);
      return 2;
    }
  }
  if (options.insecure) io.stderr.write('cim chat: WARNING: --insecure: TLS certificates are not verified (for testing only)\n');
  const tls = { ...(ca ? { ca } : {}), ...(options.insecure ? { rejectUnauthorized: false } : {}) };
  // The password probe below needs the same trust as the client: Node's fetch cannot take a CA (tls-fetch.ts).
  const probeFetch = io.fetch ?? (ca || options.insecure ? tlsFetch({ rejectUnauthorized: !options.insecure, ...(ca ? { ca } : {}) }) : fetch);

  const history = new History(historyRoot, options.user, (err) => io.stderr.write(`! history not written: ${err.message}\n`));
  // Shared across restarts: what an earlier run displayed is not shown again when the server pushes it again.
  const seenStore = new FileSeenStore(join(history.dir, SEEN_FILE), (err) => io.stderr.write(`! seen-message list not written: ${err.message}\n`));
  let device: string;
  try {
    device = options.device ?? deviceIdOf(history.dir);
  } catch (err) {
    io.stderr.write(`cim chat: ${(err as Error).message}\n`);
    return 2;
  }
  let password: string | undefined = options.password;
  // Interactive and no password given: ask, without echo. Empty = none (a route in cim mode needs none).
  // Only when the route says (in its OpenAPI document) that registrations need a password: cim-mode routes never prompt.
  // An id token file: read now (a missing file is a usage error), and again at every login.
  const idTokenFile = options.idTokenFile;
  if (idTokenFile !== undefined) {
    try {
      if (readFileSync(idTokenFile, 'utf8').trim() === '') throw new Error('the file is empty');
    } catch (err) {
      io.stderr.write(`cim chat: --id-token-file ${idTokenFile}: ${(err as Error).message}\n`);
      return 2;
    }
  }
  if (password === undefined && idTokenFile === undefined && io.stdin.isTTY === true && !options.once && (await routeNeedsPassword(options.route, probeFetch))) {
    password = (await promptHidden(io.stdin, io.stderr, `password for ${options.user}: `)) || undefined;
  }
  let client: CimClient;
  try {
    client = new CimClient({
      routeUrl: options.route,
      userName: options.user,
      ...(options.userId !== undefined ? { userId: options.userId } : {}),
      ...(idTokenFile !== undefined ? { idToken: () => readFileSync(idTokenFile, 'utf8').trim() } : password !== undefined ? { password } : {}),
      transport: options.transport as 'ws' | 'tcp',
      protocol: options.protocol as Protocol,
      heartbeatIntervalMs: options.heartbeat * 1000,
      via: options.via as Via,
      seenStore,
      device,
      logger,
      ...tls,
      ...(io.fetch ? { fetch: io.fetch } : {}),
    });
  } catch (err) {
    io.stderr.write(`cim chat: ${(err as Error).message}\n`);
    return 2;
  }
  // Created before connecting, so it already listens when messages arrive right after the login.
  const shell = new ChatShell({ client, history, stdin: io.stdin, stdout: io.stdout, stderr: io.stderr, interactive, color, json: options.json, once: options.once, routeUrl: options.route, displayJournal: seenStore });
  try {
    await client.connect();
  } catch (err) {
    io.stderr.write(`cim chat: login failed: ${(err as Error).message}\n`);
    return 1;
  }

  const onSignal = (): void => void shell.quit(0);
  if (io.handleSignals) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  try {
    return await shell.run();
  } finally {
    if (io.handleSignals) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}

/** Reads one line from a TTY in raw mode, echoing nothing; Ctrl-C/Ctrl-D give up (empty). */
function promptHidden(stdin: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown }, stderr: Writable, question: string): Promise<string> {
  return new Promise((resolve) => {
    stderr.write(question);
    let typed = '';
    const raw = typeof stdin.setRawMode === 'function';
    if (raw) stdin.setRawMode!(true);
    const done = (value: string) => {
      stdin.off('data', onData);
      if (raw) stdin.setRawMode!(false);
      stdin.pause();
      stderr.write('\n');
      resolve(value);
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of chunk.toString()) {
        if (ch === '\r' || ch === '\n') return done(typed);
        if (ch === '\u0003' || ch === '\u0004') return done('');
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else if (ch >= ' ') typed += ch;
      }
    };
    stdin.on('data', onData);
    stdin.resume();
  });
}

/** Whether the route runs in password mode: its /registerAccount schema requires a password. Unknown = no. */
async function routeNeedsPassword(routeUrl: string, fetchFn: typeof fetch): Promise<boolean> {
  try {
    const res = await fetchFn(`${routeUrl.replace(/\/+$/, '')}/openapi.json`, { signal: AbortSignal.timeout(3000) });
    if (res.status !== 200) return false;
    const doc = (await res.json()) as { paths?: Record<string, { post?: { requestBody?: { content?: Record<string, { schema?: { required?: unknown } }> } } }> };
    const required = doc.paths?.['/registerAccount']?.post?.requestBody?.content?.['application/json']?.schema?.required;
    return Array.isArray(required) && required.includes('password');
  } catch {
    return false;
  }
}
