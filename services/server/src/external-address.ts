/**
 * The server's external address (Kubernetes external access): a JSON file `{host, tcpPort, httpPort}` that the
 * operator writes into a ConfigMap mounted into the pod. The file may be missing (not published yet) and changes
 * when the pod moves to another node; the kubelet replaces it by swapping a symlink, which file watches miss, so the
 * file is re-read on an interval. A missing, unreadable or invalid file means "no external address": the server
 * keeps running and registers without one (a route in `--advertise external` mode then does not choose it).
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from '../../common/src/log.ts';
import { parseExternalAddress, type ServerAddress } from '../../common/src/server-address.ts';

/** Larger than any address JSON; a bigger file is not ours. */
const MAX_FILE_BYTES = 4096;

/** Reads and validates the file; undefined when missing or invalid (the reason goes to `problem`). */
export async function readExternalAddress(path: string, problem: (reason: string) => void = () => {}): Promise<ServerAddress | undefined> {
  let text: string;
  try {
    const buf = await readFile(path);
    if (buf.length > MAX_FILE_BYTES) return void problem(`larger than ${MAX_FILE_BYTES} bytes`);
    text = buf.toString('utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') problem(`unreadable (${code ?? String(err)})`);
    return undefined;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return void problem('not JSON');
  }
  return parseExternalAddress(json) ?? void problem('not {host, tcpPort, httpPort} with a valid host and ports');
}

export interface ExternalAddressWatchOptions {
  readonly path: string;
  readonly log: Logger;
  readonly intervalMs?: number;
  /** Called after each change (including to or from "none"). */
  readonly onChange?: (address: ServerAddress | undefined) => void;
}

const same = (a: ServerAddress | undefined, b: ServerAddress | undefined) =>
  a?.host === b?.host && a?.tcpPort === b?.tcpPort && a?.httpPort === b?.httpPort;

/** Keeps the file's current value; `start` resolves after the first read so the first registration has it. */
export class ExternalAddressWatch {
  readonly #o: ExternalAddressWatchOptions;
  #current: ServerAddress | undefined;
  #timer: NodeJS.Timeout | undefined;
  #lastProblem = '';
  #reading: Promise<void> | undefined;

  constructor(options: ExternalAddressWatchOptions) {
    this.#o = options;
  }

  get current(): ServerAddress | undefined {
    return this.#current;
  }

  async start(): Promise<void> {
    await this.refresh();
    this.#timer = setInterval(() => void this.refresh(), this.#o.intervalMs ?? 5000);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Reads the file now (one read at a time). */
  refresh(): Promise<void> {
    this.#reading ??= this.#read().finally(() => (this.#reading = undefined));
    return this.#reading;
  }

  async #read(): Promise<void> {
    let problem = '';
    const next = await readExternalAddress(this.#o.path, (reason) => (problem = reason));
    // Log a bad file once, not every interval.
    if (problem && problem !== this.#lastProblem) this.#o.log.warn({ file: this.#o.path, problem }, 'external address file ignored');
    this.#lastProblem = problem;
    if (same(next, this.#current)) return;
    this.#current = next;
    this.#o.log.info({ file: this.#o.path, external: next ?? null }, 'external address changed');
    this.#o.onChange?.(next);
  }
}
