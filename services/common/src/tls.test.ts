import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import type { SecureContextOptions } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { checkTlsMaterial, loadTlsMaterial, readCaFile, tlsFilesFrom, TlsConfigError, TlsReloader } from './tls.ts';

let dir: string;
const path = (f: string) => join(dir, f);

/** A self-signed EC certificate + key with the given serial (hex), by the openssl CLI. */
function selfSigned(name: string, serial: string): void {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '1', '-subj', '/CN=t', '-set_serial', `0x${serial}`], { cwd: dir, stdio: 'ignore' });
}

/** Records log lines by level. */
function recordingLog() {
  const lines: Array<{ level: number; msg: string }> = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
  return { log, errors: () => lines.filter((l) => l.level >= 50).map((l) => l.msg), lines };
}

/** A target that records every context it is given, by the serial of its certificate. */
function target() {
  const serials: string[] = [];
  return { serials, setSecureContext: (o: SecureContextOptions) => void serials.push(new X509Certificate(o.cert as Buffer).serialNumber) };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cim-tls-unit-'));
  selfSigned('a', 'A1');
  selfSigned('b', 'B2');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('loading', () => {
  it('--tls-cert and --tls-key go together', () => {
    expect(tlsFilesFrom(undefined, undefined)).toBeUndefined();
    expect(tlsFilesFrom('c', 'k')).toEqual({ certFile: 'c', keyFile: 'k' });
    expect(() => tlsFilesFrom('c', undefined)).toThrow(/go together: got only --tls-cert/);
    expect(() => tlsFilesFrom(undefined, 'k')).toThrow(/got only --tls-key/);
  });

  it('loads a matching pair and refuses missing files, non-PEM and a key of another certificate with a clear error', () => {
    const m = loadTlsMaterial({ certFile: path('a.crt'), keyFile: path('a.key') });
    expect(m.cert.toString()).toContain('BEGIN CERTIFICATE');
    expect(() => loadTlsMaterial({ certFile: path('missing.crt'), keyFile: path('a.key') })).toThrow(/--tls-cert .*missing\.crt: ENOENT/);
    writeFileSync(path('junk.pem'), 'not a certificate');
    expect(() => loadTlsMaterial({ certFile: path('junk.pem'), keyFile: path('a.key') })).toThrow(TlsConfigError);
    expect(() => loadTlsMaterial({ certFile: path('a.crt'), keyFile: path('b.key') })).toThrow(/do not load/);
    expect(() => checkTlsMaterial({ cert: Buffer.from(''), key: Buffer.from('') })).toThrow(TlsConfigError);
  });

  it('a CA file must hold a PEM certificate', () => {
    expect(readCaFile(path('a.crt')).length).toBeGreaterThan(0);
    expect(() => readCaFile(path('junk.pem'), '--server-tls-ca')).toThrow(/--server-tls-ca .*no PEM certificate/);
    expect(() => readCaFile(path('nope.pem'))).toThrow(/ENOENT/);
  });
});

describe('TlsReloader', () => {
  it('swaps in a changed pair once, keeps the old context on a bad pair (logged once) and never throws', async () => {
    copyFileSync(path('a.crt'), path('live.crt'));
    copyFileSync(path('a.key'), path('live.key'));
    const files = { certFile: path('live.crt'), keyFile: path('live.key') };
    const { log, errors } = recordingLog();
    const t = target();
    const reloader = new TlsReloader({ files, initial: loadTlsMaterial(files), log }).add(t);

    await reloader.check();
    expect(t.serials).toEqual([]); // unchanged files: nothing to do

    // Half-rotated: the new certificate with the old key. Kept, logged once however often it is checked.
    copyFileSync(path('b.crt'), path('live.crt'));
    await reloader.check();
    await reloader.check();
    expect(t.serials).toEqual([]);
    expect(errors()).toEqual(['new TLS certificate/key do not load; keeping the current one']);

    // The key follows: the new pair goes to every target.
    copyFileSync(path('b.key'), path('live.key'));
    await reloader.check();
    expect(t.serials).toEqual(['B2']);
    expect(reloader.reloads).toBe(1);

    // Garbage, then a vanished file: still the last good context, no exception.
    writeFileSync(path('live.crt'), 'garbage');
    await reloader.check();
    rmSync(path('live.key'));
    await reloader.check();
    expect(t.serials).toEqual(['B2']);
    expect(errors()).toHaveLength(2);

    // Back to the first pair: swapped again.
    copyFileSync(path('a.crt'), path('live.crt'));
    copyFileSync(path('a.key'), path('live.key'));
    await reloader.check();
    expect(t.serials).toEqual(['B2', 'A1']);
  });

  it('checks periodically once started, and stops', async () => {
    copyFileSync(path('a.crt'), path('p.crt'));
    copyFileSync(path('a.key'), path('p.key'));
    const files = { certFile: path('p.crt'), keyFile: path('p.key') };
    const t = target();
    const reloader = new TlsReloader({ files, initial: loadTlsMaterial(files), log: recordingLog().log, intervalMs: 20 }).add(t);
    reloader.start();
    try {
      writeFileSync(path('p.key'), readFileSync(path('b.key')));
      writeFileSync(path('p.crt'), readFileSync(path('b.crt')));
      await expect.poll(() => t.serials, { timeout: 5000, interval: 20 }).toEqual(['B2']);
    } finally {
      reloader.stop();
    }
  });
});
