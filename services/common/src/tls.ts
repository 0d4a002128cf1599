/**
 * TLS material of cim-server and cim-route: PEM certificate + key (and an optional CA) read from files,
 * checked by building a SecureContext before use, and re-read when the files change. cert-manager and
 * the kubelet replace a mounted Secret in place (a symlink swap), so a periodic read of the files is the
 * one signal that works everywhere (fs.watch misses symlink swaps on some file systems). A new pair that
 * does not load (half-written, key not matching) keeps the previous context and is logged once.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from './log.ts';

export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** CA bundle to send along / trust; optional. */
  readonly caFile?: string | undefined;
}

/** What node:tls / node:https servers take: the PEM bytes. */
export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca?: Buffer;
}

/** Anything whose certificate can be swapped without a restart (https.Server, tls.Server). */
export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
}

export class TlsConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TlsConfigError';
  }
}

/** `--tls-cert` and `--tls-key` come together or not at all. */
export function tlsFilesFrom(certFile: string | undefined, keyFile: string | undefined, caFile?: string): TlsFiles | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (!certFile || !keyFile) throw new TlsConfigError(`--tls-cert and --tls-key go together: got only ${certFile ? '--tls-cert' : '--tls-key'}`);
  return { certFile, keyFile, ...(caFile ? { caFile } : {}) };
}

/** Throws TlsConfigError when the PEM data cannot make a context (not PEM, key not matching the certificate). */
export function checkTlsMaterial(material: TlsMaterial): void {
  try {
    createSecureContext(material);
  } catch (err) {
    throw new TlsConfigError(`certificate/key do not load: ${(err as Error).message}`, { cause: err });
  }
}

/** Reads and checks the files at startup (synchronously: a server without its certificate must not start). */
export function loadTlsMaterial(files: TlsFiles): TlsMaterial {
  const material = {
    cert: readPem(files.certFile, '--tls-cert'),
    key: readPem(files.keyFile, '--tls-key'),
    ...(files.caFile ? { ca: readPem(files.caFile, 'CA') } : {}),
  };
  checkTlsMaterial(material);
  return material;
}

/** A CA bundle to verify peers with (route → servers, SDK → route/servers). */
export function readCaFile(file: string, what = 'CA'): Buffer {
  const ca = readPem(file, what);
  if (!ca.toString('latin1').includes('-----BEGIN CERTIFICATE-----')) throw new TlsConfigError(`${what} ${file}: no PEM certificate in it`);
  return ca;
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new TlsConfigError(`${what} ${file}: ${(err as Error).message}`, { cause: err });
  }
}

const digest = (m: TlsMaterial): string => createHash('sha256').update(m.cert).update('\0').update(m.key).update('\0').update(m.ca ?? '').digest('hex');

export interface TlsReloaderOptions {
  readonly files: TlsFiles;
  readonly initial: TlsMaterial;
  readonly log: Logger;
  /** ms between reads of the files; default 10 000 (the kubelet itself syncs Secrets every ~60 s). */
  readonly intervalMs?: number;
}

/**
 * Re-reads the files every intervalMs; a changed, loadable pair goes to every target's
 * setSecureContext (new handshakes use it, open connections keep theirs). Never throws.
 */
export class TlsReloader {
  readonly #o: TlsReloaderOptions;
  readonly #targets: SecureContextTarget[] = [];
  #current: string;
  /** digest of the last pair that failed, so one bad pair is logged once, not every interval */
  #failed: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reloads = 0;
  #running: Promise<void> | undefined;

  constructor(options: TlsReloaderOptions) {
    this.#o = options;
    this.#current = digest(options.initial);
  }

  /** Number of certificate swaps so far (for logs and tests). */
  get reloads(): number {
    return this.#reloads;
  }

  add(target: SecureContextTarget): this {
    this.#targets.push(target);
    return this;
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.check(), this.#o.intervalMs ?? 10_000);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One check now; resolves when done (never rejects). Concurrent calls share one run. */
  check(): Promise<void> {
    this.#running ??= this.#check().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #check(): Promise<void> {
    const { files, log } = this.#o;
    let material: TlsMaterial;
    try {
      const [cert, key, ca] = await Promise.all([readFile(files.certFile), readFile(files.keyFile), files.caFile ? readFile(files.caFile) : undefined]);
      material = { cert, key, ...(ca ? { ca } : {}) };
    } catch (err) {
      // A Secret being swapped can vanish for an instant; the next interval sees the new files.
      log.warn({ err: (err as Error).message }, 'TLS files unreadable; keeping the current certificate');
      return;
    }
    const d = digest(material);
    if (d === this.#current || d === this.#failed) return;
    try {
      checkTlsMaterial(material);
      for (const t of this.#targets) t.setSecureContext(material);
    } catch (err) {
      this.#failed = d;
      log.error({ err: (err as Error).message, cert: files.certFile }, 'new TLS certificate/key do not load; keeping the current one');
      return;
    }
    this.#current = d;
    this.#failed = undefined;
    this.#reloads++;
    log.info({ cert: files.certFile, reloads: this.#reloads }, 'TLS certificate reloaded');
  }
}
