/**
 * File messages (docs/delivery.md "File messages"), real processes: route + 2 servers, real Redis and ZooKeeper,
 * password mode, the route's local-directory file store. A 3 MiB random file goes from one `cim chat` (:file) to
 * another (:get) byte-identical; a file over --max-file-bytes, an executable and a wrong type are refused with
 * their codes and leave nothing stored; a third user and bad tokens cannot download; the route stays healthy.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type ChatMessage, type CimClient } from '../../services/client/src/index.ts';
import { waitUntil } from '../../services/common/src/infra/ports.ts';
import { startChatProcess, type ChatProcess } from '../harness/cim-chat-process.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { routeApi } from '../harness/route-api.ts';
import { connectWs, type RawClient } from '../harness/raw-client.ts';
import { Command } from '../../services/common/src/codec.ts';
import { issueFileToken } from '../../services/common/src/files/file-token.ts';

const MiB = 1024 * 1024;
const MAX_FILE_BYTES = 3.5 * MiB;
let cluster: TestCluster;
let home: string;
let storeDir: string;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'cim-files-it-'));
  storeDir = join(home, 'store');
  cluster = await startCluster({ servers: 2, authSecret: 'file-messages-secret', auth: 'password', routeArgs: ['--file-store', `dir:${storeDir}`, '--max-file-bytes', String(MAX_FILE_BYTES)] });
});

afterAll(async () => {
  await cluster?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** The stored files (data files: generated ids, no .json, no partial uploads). */
const storedFiles = async () => (await readdir(storeDir).catch(() => [] as string[])).filter((n) => /^[A-Za-z0-9_-]{22}$/.test(n));

async function user(name: string): Promise<number> {
  const reg = await routeApi(cluster.routeUrl).register(name, `${name}-password`);
  expect(reg.code).toBe('9000');
  return reg.dataBody.userId;
}

async function chat(name: string): Promise<ChatProcess> {
  const p = startChatProcess(['--route', cluster.routeUrl, '--user', name, '--password', `${name}-password`, '--history-dir', join(home, name)], home);
  await waitUntil(`${name} logged in`, () => (p.stdout.text.includes('* logged in as') ? true : undefined), 20_000, 10);
  return p;
}

const lines = (p: ChatProcess, re: RegExp) => p.stdout.text.split('\n').filter((l) => re.test(l));
/** The first stdout line matching `re`; on a timeout the error shows what the process printed. */
async function waitLine(p: ChatProcess, re: RegExp, what: string): Promise<string> {
  try {
    return await waitUntil(what, () => lines(p, re)[0], 30_000, 10);
  } catch (err) {
    throw new Error(`${(err as Error).message}\nstdout:\n${p.stdout.text}\nstderr:\n${p.stderr.text}`);
  }
}

describe('file messages', () => {
  it('a 3 MiB file goes from one cim chat to another byte-identical; refusals are counted and store nothing', async () => {
    const aliceId = await user('f-alice');
    const bobId = await user('f-bob');
    const original = randomBytes(3 * MiB);
    const path = join(home, 'holiday photo.bin');
    await writeFile(path, original);
    const tooBig = join(home, 'too-big.bin');
    await writeFile(tooBig, randomBytes(4 * MiB));
    const alice = await chat('f-alice');
    const bob = await chat('f-bob');

    alice.type(`:file ${bobId} ${path}`);
    await waitLine(alice, /^\* sent \[file\] holiday photo\.bin \(3\.0 MiB/, 'alice to see her file sent');
    const shown = await waitLine(bob, /\[file\] holiday photo\.bin 3\.0 MiB — :get \S+$/, 'bob to be shown the file');
    const msgId = /:get (\S+)$/.exec(shown)![1]!;
    const downloads = join(home, 'downloads');
    await mkdir(downloads);
    bob.type(`:get ${msgId} ${downloads}`);
    const saved = await waitLine(bob, /^\* saved /, 'bob to save the file');
    const received = await readFile(join(downloads, 'holiday photo.bin'));
    expect(received.length).toBe(original.length);
    expect(sha256(received), saved).toBe(sha256(original));
    expect(saved).toContain(sha256(original));

    // Over --max-file-bytes: refused with 7500 before anything is sent; bob is shown no second file.
    alice.type(`:file ${bobId} ${tooBig}`);
    await waitLine(alice, /^! .*7500/, 'alice to see the 7500 refusal');
    // A text after it still goes through, in order: nothing is wedged.
    alice.type(`${bobId};;after the refusal`);
    await waitLine(bob, /f-alice: after the refusal/, 'bob to get the text after the refusal');
    expect(lines(bob, /\[file\] /).length, bob.stdout.text).toBe(2); // the message line "[file] name (size)" and its :get line
    expect(lines(bob, /— :get /).length).toBe(1);
    expect(await storedFiles()).toHaveLength(1);
    expect(aliceId).toBeGreaterThan(0);

    alice.type(':q!');
    bob.type(':q!');
    expect(await alice.exited).toBe(0);
    expect(await bob.exited).toBe(0);
  });

  it('SDK: a file sent to an offline user arrives from the inbox at its login with its attachment, once, and downloads', async () => {
    const clients: CimClient[] = [];
    const connect = async (userName: string, onMessage?: (m: ChatMessage) => void) => {
      const c = await createClient({ routeUrl: cluster.routeUrl, userName, password: `${userName}-password`, ...(onMessage ? { onMessage } : {}) });
      clients.push(c);
      return c;
    };
    try {
      const bobId = await user('f-sdk-bob');
      await user('f-sdk-alice');
      const alice = await connect('f-sdk-alice');
      const bytes = randomBytes(MiB + 17);
      const sent = await alice.sendFile(bobId, bytes, { name: 'scan.pdf' });
      expect(sent).toMatchObject({ online: false, attachment: { name: 'scan.pdf', size: bytes.length, type: 'application/pdf' } });
      const got: ChatMessage[] = [];
      const bob = await connect('f-sdk-bob', (m) => got.push(m));
      await waitUntil('bob to get the file message from his inbox', () => (got.length >= 1 ? true : undefined), 20_000, 10);
      await alice.sendPrivate(bobId, 'done');
      await waitUntil('bob to get the text after it', () => (got.length >= 2 ? true : undefined), 20_000, 10);
      expect(got.map((m) => m.text)).toEqual(['[file] scan.pdf (1.0 MiB)', 'done']);
      expect(got[0]).toMatchObject({ offline: true, attachment: sent.attachment });
      expect(got[1]!.attachment).toBeUndefined();
      const dir = join(home, 'sdk-downloads');
      await mkdir(dir);
      const first = await bob.download(got[0]!.attachment!, dir);
      const second = await bob.download(got[0]!.attachment!, dir); // never over an existing file
      expect([first.path, second.path]).toEqual([join(dir, 'scan.pdf'), join(dir, 'scan-1.pdf')]);
      expect(sha256(await readFile(first.path))).toBe(sha256(bytes));
      expect(first.sha256).toBe(sha256(bytes));
      // A tampered attachment (another file's id) is refused, and leaves no partial file behind.
      await expect(bob.download({ ...got[0]!.attachment!, fileId: 'C'.repeat(22) }, dir)).rejects.toMatchObject({ serverCode: '7520' });
      expect((await readdir(dir)).sort()).toEqual(['scan-1.pdf', 'scan.pdf']);
    } finally {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    }
  });

  it('only holders of the message\'s token download; bad tokens, strangers and bad uploads are refused with their codes', async () => {
    const api = routeApi(cluster.routeUrl);
    const login = async (name: string) => {
      const id = await user(name);
      const answer = await api.login(id, name, 2, `${name}-password`);
      expect(answer.code).toBe('9000');
      return { id, token: answer.dataBody!.token as string };
    };
    const owner = await login('f-owner');
    const mallory = await login('f-mallory');
    const put = (who: { id: number; token: string }, name: string, type: string, body: Buffer, auth = `Bearer ${who.token}`) =>
      fetch(`${cluster.routeUrl}/files?userId=${who.id}&name=${encodeURIComponent(name)}&type=${encodeURIComponent(type)}`, { method: 'PUT', headers: { authorization: auth, 'content-type': 'application/octet-stream' }, body });
    const get = (who: { id: number; token: string }, fileId: string, token: string, auth = `Bearer ${who.token}`) =>
      fetch(`${cluster.routeUrl}/files/${fileId}?userId=${who.id}&token=${encodeURIComponent(token)}`, { headers: { authorization: auth } });
    const codeOf = async (r: Response) => [r.status, ((await r.json()) as { code: string }).code];

    const before = (await storedFiles()).length;
    const bytes = randomBytes(100_000);
    const up = await put(owner, 'notes.txt', 'text/plain', bytes);
    expect(up.status).toBe(200);
    const { dataBody } = (await up.json()) as { dataBody: { fileId: string; size: number; sha256: string; token: string } };
    expect(dataBody).toMatchObject({ size: bytes.length, sha256: sha256(bytes) });

    // The token holder downloads it, as an attachment that is never rendered inline.
    const ok = await get(mallory, dataBody.fileId, dataBody.token);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-disposition')).toMatch(/^attachment; filename="notes\.txt"/);
    expect(ok.headers.get('x-content-type-options')).toBe('nosniff');
    expect(ok.headers.get('content-type')).toBe('application/octet-stream');
    expect(sha256(Buffer.from(await ok.arrayBuffer()))).toBe(sha256(bytes));

    // A third user without the token, a forged or another file's token, no login: refused.
    const [exp, sig] = dataBody.token.split('.');
    const forged = `${Number(exp) + 3600}.${sig}`;
    const otherFile = `${dataBody.fileId.slice(1)}A`;
    expect(await codeOf(await get(mallory, dataBody.fileId, `${exp}.${'A'.repeat(43)}`))).toEqual([403, '7520']);
    expect(await codeOf(await get(mallory, dataBody.fileId, forged))).toEqual([403, '7520']);
    expect(await codeOf(await get(mallory, otherFile, dataBody.token))).toEqual([403, '7520']);
    expect(await codeOf(await get(mallory, '..%2F..%2Fetc%2Fpasswd', dataBody.token))).toEqual([403, '7520']);
    expect(await codeOf(await get(mallory, dataBody.fileId, dataBody.token, 'Bearer not-a-token'))).toEqual([401, '9300']);
    expect(await codeOf(await get(mallory, dataBody.fileId, dataBody.token, ''))).toEqual([401, '9300']);
    expect(await codeOf(await get({ id: owner.id, token: mallory.token }, dataBody.fileId, dataBody.token))).toEqual([401, '9300']); // mallory's token, owner's id

    // Uploads: over the limit (declared, and streamed without a length), an executable, a type not accepted, no login.
    expect(await codeOf(await put(owner, 'big.bin', 'application/octet-stream', randomBytes(4 * MiB)))).toEqual([413, '7500']);
    const chunked = new ReadableStream({
      start(c) {
        for (let i = 0; i < 8; i++) c.enqueue(randomBytes(MiB / 2));
        c.close();
      },
    });
    const streamed = await fetch(`${cluster.routeUrl}/files?userId=${owner.id}&name=s.bin&type=application/octet-stream`, { method: 'PUT', headers: { authorization: `Bearer ${owner.token}` }, body: chunked, duplex: 'half' } as RequestInit);
    expect(await codeOf(streamed)).toEqual([413, '7500']);
    expect(await codeOf(await put(owner, 'setup.exe', 'application/octet-stream', Buffer.from('MZ')))).toEqual([415, '7510']);
    expect(await codeOf(await put(owner, 'page.bin', 'text/html', Buffer.from('<script>')))).toEqual([415, '7510']);
    expect(await codeOf(await put(owner, 'x.txt', 'text/plain', Buffer.from('x'), 'Bearer nope'))).toEqual([401, '9300']);
    expect(await codeOf(await put(owner, 'a/b.txt', 'text/plain', Buffer.from('x')))).toEqual([400, '3000']);
    expect((await storedFiles()).length).toBe(before + 1); // only notes.txt

    // The route is still healthy and serving.
    expect((await fetch(`${cluster.routeUrl}/readyz`)).status).toBe(200);
    expect((await get(owner, dataBody.fileId, dataBody.token)).status).toBe(200);
  });

  it('the server refuses unsound file properties and files outside private messages (3000); the receiver gets none', async () => {
    const api = routeApi(cluster.routeUrl);
    const raws: RawClient[] = [];
    const online = async (name: string) => {
      const userId = await user(name);
      const grant = (await api.login(userId, name, 2, `${name}-password`)).dataBody!;
      const raw = await connectWs(`ws://${grant.ip}:${grant.httpPort}/ws`);
      raws.push(raw);
      raw.login(userId, name, { protocol: '2', token: grant.token as string });
      expect((await raw.next((f) => f.cmd === Command.LOGIN_RESPONSE)).properties['code']).toBe('9000');
      return { userId, raw };
    };
    try {
      const receiver = await online('f-raw-receiver');
      const sender = await online('f-raw-sender');
      const fileId = 'D'.repeat(22);
      const good = { fileId, fileName: 'a.txt', fileSize: '1', fileType: 'text/plain', fileToken: issueFileToken('any', fileId, Date.now(), 60_000) };
      const to = { receiveUserId: String(receiver.userId) };
      const bad: Record<string, string>[] = [
        { ...to, ...good, fileName: '../../a' },
        { ...to, ...good, fileSize: 'x' },
        { ...to, fileId },
        { ...to, ...good, fileToken: 'nope' },
        { ...good }, // no receiver: "everyone online"
      ];
      for (const [i, props] of bad.entries()) {
        sender.raw.send({ cmd: Command.MESSAGE, requestId: sender.userId, reqMsg: `bad ${i}`, properties: { msgId: `bad-${i}`, ...props } });
        const ack = await sender.raw.next((f) => f.cmd === Command.MESSAGE_ACK && f.properties['msgId'] === `bad-${i}`);
        expect(ack.properties['code'], JSON.stringify(props)).toBe('3000');
      }
      sender.raw.send({ cmd: Command.MESSAGE, requestId: sender.userId, reqMsg: 'good', properties: { msgId: 'good-1', ...to, ...good } });
      expect((await sender.raw.next((f) => f.cmd === Command.MESSAGE_ACK && f.properties['msgId'] === 'good-1')).properties['code']).toBe('9000');
      const delivered = await receiver.raw.next((f) => f.cmd === Command.MESSAGE && f.reqMsg === 'good');
      expect(delivered.properties).toMatchObject(good);
      expect(receiver.raw.frames.filter((f) => f.cmd === Command.MESSAGE).map((f) => f.reqMsg)).toEqual(['good']);
    } finally {
      await Promise.all(raws.map((r) => r.close()));
    }
  });
});
