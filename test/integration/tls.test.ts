/**
 * TLS end to end (issue #10) on real processes: redis-server, ZooKeeper, two cim-servers and a cim-route,
 * all serving certificates of a throwaway CA made with the openssl CLI at test time. The route speaks
 * HTTPS (and WSS on /relay), the servers HTTPS/WSS and TLS on their TCP port, verified by the name
 * they publish (--tls-name). Every message is counted; a marker sent last proves no duplicate was on its way.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createClient, type ChatMessage, type CimClient, type ClientOptions, type ReceiptEvent, type StateChange } from '../../services/client/src/index.ts';
import { ClientErrorCode, CimClientError } from '../../services/client/src/sdk/errors.ts';
import { tlsFetch } from '../../services/client/src/sdk/tls-fetch.ts';
import { waitUntil } from '../../services/common/src/infra/ports.ts';
import { startChatProcess } from '../harness/cim-chat-process.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { TEST_PASSWORD } from '../harness/route-api.ts';

const SERVER_NAME = 'cim-server.test';
const N = 20;

let dir: string;
let cluster: TestCluster;
let ca: Buffer;
const clients: CimClient[] = [];

/** A CA, and a leaf for 127.0.0.1 / localhost / SERVER_NAME with the given serial (hex), signed by it. */
function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}
function makeLeaf(name: string, serial: string): void {
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', '/CN=cim-test');
  writeFileSync(join(dir, 'ext.cnf'), `subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:${SERVER_NAME}\n`);
  openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', `0x${serial}`, '-days', '2', '-out', `${name}.crt`, '-extfile', 'ext.cnf');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cim-tls-'));
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=cim-test-ca');
  makeLeaf('tls', '1001');
  ca = readFileSync(join(dir, 'ca.crt'));
  cluster = await startCluster({
    servers: 2,
    authSecret: 'tls-secret',
    tls: { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), caFile: join(dir, 'ca.crt'), tcp: true, serverName: SERVER_NAME, reloadIntervalSec: 0.2 },
  });
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Tracked {
  readonly client: CimClient;
  readonly inbox: ChatMessage[];
  readonly receipts: ReceiptEvent[];
  readonly states: StateChange[];
  until(count: number, what: string, timeoutMs?: number): Promise<unknown>;
}

async function connect(userName: string, extra: Partial<ClientOptions>): Promise<Tracked> {
  const inbox: ChatMessage[] = [];
  const receipts: ReceiptEvent[] = [];
  const states: StateChange[] = [];
  const client = await createClient({ routeUrl: cluster.routeUrl, userName, password: TEST_PASSWORD, ca, onMessage: (m) => inbox.push(m), ...extra });
  clients.push(client);
  client.on('receipt', (r) => receipts.push(r));
  client.on('state', (s) => states.push(s));
  const until = (count: number, what: string, timeoutMs = 15_000) => waitUntil(`${userName}: ${what}`, () => (inbox.length >= count ? true : undefined), timeoutMs);
  return { client, inbox, receipts, states, until };
}

/** The serial of the certificate a new TLS connection to the port sees. */
function peerSerial(port: number, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca, ...(servername ? { servername } : {}) }, () => {
      resolve(s.getPeerCertificate().serialNumber.toUpperCase());
      s.destroy();
    });
    s.on('error', reject);
  });
}

describe('TLS: route HTTPS, servers WSS and TLS over TCP, verified with a private CA', () => {
  let alice: Tracked;
  let bob: Tracked;

  it('two SDK clients with the CA exchange private messages over WSS (direct) and through the route relay, each exactly once', async () => {
    expect(cluster.routeUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    alice = await connect('tls-alice', { via: 'direct' });
    bob = await connect('tls-bob', { via: 'route' });
    expect(alice.client.info().remote).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/ws$/);
    expect(bob.client.info().remote).toMatch(new RegExp(`^${cluster.routeUrl.replace('https', 'wss')}/relay\\?server=`));
    // Round-robin puts them on different servers: server-to-server pushes are HTTPS too.
    expect(alice.client.info().server?.httpPort).not.toBe(bob.client.info().server?.httpPort);

    const aliceId = alice.client.info().userId!;
    const bobId = bob.client.info().userId!;
    const acked = { a: 0, b: 0 };
    await Promise.all([
      (async () => {
        for (let i = 1; i <= N; i++) if ((await alice.client.sendPrivate(bobId, `a2b-${i}`)).seq !== undefined) acked.a++;
        await alice.client.sendPrivate(bobId, 'a2b-end');
      })(),
      (async () => {
        for (let i = 1; i <= N; i++) if ((await bob.client.sendPrivate(aliceId, `b2a-${i}`)).seq !== undefined) acked.b++;
        await bob.client.sendPrivate(aliceId, 'b2a-end');
      })(),
    ]);
    await bob.until(N + 1, 'all of alice\'s messages');
    await alice.until(N + 1, 'all of bob\'s messages');
    await waitUntil('delivered receipts', () => (alice.receipts.filter((r) => r.status === 'delivered').length >= N + 1 && bob.receipts.filter((r) => r.status === 'delivered').length >= N + 1 ? true : undefined), 15_000);

    const expected = (p: string) => [...Array.from({ length: N }, (_, i) => `${p}-${i + 1}`), `${p}-end`];
    expect(acked).toEqual({ a: N, b: N });
    expect(bob.inbox.map((m) => m.text)).toEqual(expected('a2b'));
    expect(alice.inbox.map((m) => m.text)).toEqual(expected('b2a'));
    expect(new Set(alice.receipts.filter((r) => r.status === 'delivered').map((r) => r.msgId)).size).toBe(N + 1);
    expect(new Set(bob.receipts.filter((r) => r.status === 'delivered').map((r) => r.msgId)).size).toBe(N + 1);
  }, 60_000);

  it('a client on TLS over TCP (--tls-tcp) gets a message once', async () => {
    const carl = await connect('tls-carl', { transport: 'tcp' });
    expect(carl.client.info().remote).toMatch(/^tls:\/\/127\.0\.0\.1:\d+$/);
    await alice.client.sendPrivate(carl.client.info().userId!, 'to-carl-over-tls-tcp');
    await carl.until(1, 'the message');
    expect(carl.inbox.map((m) => m.text)).toEqual(['to-carl-over-tls-tcp']);
    await carl.client.close();
  }, 30_000);

  it('a client without the CA is refused with a certificate error that says what to do', async () => {
    const err = await createClient({ routeUrl: cluster.routeUrl, userName: 'tls-nobody', password: TEST_PASSWORD, connectAttempts: 3 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CimClientError);
    expect((err as CimClientError).code).toBe(ClientErrorCode.TLS_UNTRUSTED);
    expect((err as CimClientError).retryable).toBe(false);
    expect((err as Error).message).toMatch(/TLS certificate not trusted \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY).*--ca/);
    // The wrong name is refused too: the CA alone is not enough.
    await expect(peerSerial(cluster.servers[0]!.httpPort, 'not-the-server.test')).rejects.toThrow(/altnames|Hostname/i);
  }, 30_000);

  it('plain http://, ws:// and TCP to TLS ports fail cleanly; every process keeps serving', async () => {
    const routePort = Number(new URL(cluster.routeUrl).port);
    await expect(fetch(`http://127.0.0.1:${routePort}/healthz`, { signal: AbortSignal.timeout(5000) })).rejects.toThrow();
    const server = cluster.servers[0]!;
    const wsError = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}/ws`, { handshakeTimeout: 5000 });
      ws.on('open', () => resolve('opened'));
      ws.on('error', (e) => resolve(`error: ${e.message}`));
    });
    expect(wsError).toMatch(/^error: /);
    // CIM framing in clear text on the TLS TCP port: the handshake fails and the socket is closed.
    const closed = await new Promise<boolean>((resolve) => {
      const s = netConnect({ host: '127.0.0.1', port: server.tcpPort }, () => s.write(Buffer.from('0a04706f6e671802', 'hex')));
      s.on('error', () => undefined);
      s.on('close', () => resolve(true));
      s.setTimeout(10_000, () => resolve(false));
    });
    expect(closed).toBe(true);
    const https = tlsFetch({ ca, rejectUnauthorized: true });
    expect((await https(`${cluster.routeUrl}/healthz`)).status).toBe(200);
    for (const s of cluster.servers) {
      expect(s.process.child.exitCode).toBeNull();
      expect((await peerSerial(s.httpPort, SERVER_NAME)).length).toBeGreaterThan(0);
    }
    await cluster.waitForServers(2);
  }, 30_000);

  it('cim chat --ca works as a real process', async () => {
    const home = join(dir, 'home');
    const carol = startChatProcess(['--route', cluster.routeUrl, '--user', 'tls-carol', '--password', TEST_PASSWORD, '--ca', join(dir, 'ca.crt'), '--json', '--history-dir', home], home);
    await carol.stderr.waitFor('* logged in as tls-carol', 20_000);
    const carolId = (await alice.client.onlineUsers()).find((u) => u.userName === 'tls-carol')!.userId;
    const before = alice.inbox.length;
    await alice.client.sendPrivate(carolId, 'to-carol-over-tls');
    await carol.stdout.waitFor('to-carol-over-tls', 15_000);
    carol.type(`${alice.client.info().userId};;from-carol-over-tls`);
    await alice.until(before + 1, 'carol\'s message');
    carol.type(':q!');
    expect(await carol.exited).toBe(0);
    expect(carol.messages().map((m) => m.text)).toEqual(['to-carol-over-tls']);
    expect(alice.inbox.slice(before).map((m) => m.text)).toEqual(['from-carol-over-tls']);
  }, 60_000);

  it('a rotated certificate (same CA) is served to new connections; open sessions stay up', async () => {
    const routePort = Number(new URL(cluster.routeUrl).port);
    expect(await peerSerial(routePort)).toBe('1001');
    const aliceStates = alice.states.length;
    const bobStates = bob.states.length;
    makeLeaf('next', '2002');
    // As a Secret update does: the new files replace the old ones (a rename each; in between they do not match).
    renameSync(join(dir, 'next.crt'), join(dir, 'tls.crt'));
    renameSync(join(dir, 'next.key'), join(dir, 'tls.key'));
    await waitUntil('the route to serve the new certificate', async () => ((await peerSerial(routePort)) === '2002' ? true : undefined), 15_000);
    for (const s of cluster.servers) {
      await waitUntil(`server ${s.address} to serve it on HTTP`, async () => ((await peerSerial(s.httpPort, SERVER_NAME)) === '2002' ? true : undefined), 15_000);
      await waitUntil(`server ${s.address} to serve it on TCP`, async () => ((await peerSerial(s.tcpPort, SERVER_NAME)) === '2002' ? true : undefined), 15_000);
    }
    // The sessions opened with the old certificate were not touched and still carry messages.
    expect(alice.states.length).toBe(aliceStates);
    expect(bob.states.length).toBe(bobStates);
    expect(alice.client.info().state).toBe('ready');
    const before = bob.inbox.length;
    await alice.client.sendPrivate(bob.client.info().userId!, 'after-rotation');
    await bob.until(before + 1, 'the message after rotation');
    expect(bob.inbox.slice(before).map((m) => m.text)).toEqual(['after-rotation']);
    // A new client verifies the new certificate with the same CA.
    const dora = await connect('tls-dora', { via: 'direct' });
    expect(dora.client.info().state).toBe('ready');
  }, 60_000);
});
