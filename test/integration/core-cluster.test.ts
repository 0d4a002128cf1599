/**
 * The core flows against a real cluster: redis-server, ZooKeeper, 2 cim-servers and a cim-route as
 * real processes. Clients are protocol-level (test/harness/raw-client.ts), over WebSocket and TCP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command, type CimFrame } from '../../services/common/src/codec.ts';
import { encodeLengthPrefixed } from '../../services/common/src/framing.ts';
import { pushAuthHeader } from '../../services/common/src/push.ts';
import { startCluster, type TestCluster } from '../harness/cluster.ts';
import { connectTcp, connectWs, type RawClient } from '../harness/raw-client.ts';
import { routeApi, type LoginBody } from '../harness/route-api.ts';

let cluster: TestCluster;
let api: ReturnType<typeof routeApi>;
const clients: RawClient[] = [];

beforeAll(async () => {
  cluster = await startCluster({ servers: 2 });
  api = routeApi(cluster.routeUrl);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await cluster?.stop();
});

interface User {
  userId: number;
  userName: string;
  server: LoginBody;
  client: RawClient;
}

/** Registers, logs in through the route with protocol 2 and connects over WebSocket. */
async function onlineUser(name: string): Promise<User> {
  const reg = await api.register(name);
  expect(reg.code).toBe('9000');
  const { userId } = reg.dataBody;
  const login = await api.login(userId, name, 2);
  expect(login.code, JSON.stringify(login)).toBe('9000');
  const server = login.dataBody!;
  const client = await connectWs(`ws://${server.ip}:${server.httpPort}${server.wsPath}`);
  clients.push(client);
  client.login(userId, name, { protocol: '2', token: server.token ?? '' });
  const reply = await client.next((f) => f.cmd === Command.LOGIN_RESPONSE, 10_000, 'LOGIN_RESPONSE');
  expect(reply.properties['code']).toBe('9000');
  return { userId, userName: name, server, client };
}

const messages = (c: RawClient) => c.frames.filter((f) => f.cmd === Command.MESSAGE);
const fromUser = (u: User, text: string) => (f: CimFrame) => f.cmd === Command.MESSAGE && f.reqMsg === text && f.properties['sendUserId'] === String(u.userId);

describe('a cluster of two servers and a route', () => {
  let alice: User;
  let bob: User;
  let carol: User;

  beforeAll(async () => {
    alice = await onlineUser('alice');
    bob = await onlineUser('bob');
    carol = await onlineUser('carol');
  });

  it('registers idempotently by name with unique ids', async () => {
    const again = await api.register('alice');
    expect(again).toEqual({ code: '9000', message: 'Success', reqNo: null, dataBody: { userId: alice.userId, userName: 'alice' } });
    expect(new Set([alice.userId, bob.userId, carol.userId]).size).toBe(3);
  });

  it('spreads logins over both servers by round robin', () => {
    const used = new Set([alice, bob, carol].map((u) => `${u.server.ip}:${u.server.cimServerPort}:${u.server.httpPort}`));
    expect(used).toEqual(new Set(cluster.servers.map((s) => s.address)));
  });

  it('lists the logged-in users in /onlineUser', async () => {
    const online = await api.onlineUsers();
    expect(online.code).toBe('9000');
    expect(online.dataBody).toEqual(expect.arrayContaining([alice, bob, carol].map((u) => ({ userId: u.userId, userName: u.userName }))));
  });

  it('delivers a private message across servers to its receiver only', async () => {
    const sent = await api.p2p(alice.userId, carol.userId, 'hi carol');
    expect(sent).toEqual({ code: '9000', message: 'Success', reqNo: null, dataBody: null });
    const got = await carol.client.next(fromUser(alice, 'hi carol'));
    expect(got.requestId).toBe(carol.userId);
    expect(got.properties).toMatchObject({ sendUserId: String(alice.userId), sendUserName: 'alice', receiveUserId: String(carol.userId) });
    // The receiver got it; bob (on another server or not) must not: check after a later message reached bob.
    await api.p2p(alice.userId, bob.userId, 'marker for bob');
    await bob.client.next(fromUser(alice, 'marker for bob'));
    expect(messages(bob.client).some((f) => f.reqMsg === 'hi carol')).toBe(false);
    expect(messages(alice.client).some((f) => f.reqMsg === 'hi carol')).toBe(false);
  });

  it('delivers a group message to everyone else exactly once', async () => {
    expect((await api.group(bob.userId, 'hello all')).code).toBe('9000');
    await alice.client.next(fromUser(bob, 'hello all'));
    await carol.client.next(fromUser(bob, 'hello all'));
    // A private marker sent after the group message proves nothing more is in flight for the group.
    await api.p2p(carol.userId, bob.userId, 'after group');
    await api.p2p(bob.userId, alice.userId, 'after group');
    await api.p2p(bob.userId, carol.userId, 'after group');
    await bob.client.next(fromUser(carol, 'after group'));
    await alice.client.next(fromUser(bob, 'after group'));
    await carol.client.next(fromUser(bob, 'after group'));
    expect(messages(alice.client).filter((f) => f.reqMsg === 'hello all')).toHaveLength(1);
    expect(messages(carol.client).filter((f) => f.reqMsg === 'hello all')).toHaveLength(1);
    expect(messages(bob.client).filter((f) => f.reqMsg === 'hello all')).toHaveLength(0);
  });

  it('routes in-band MESSAGE frames and acknowledges them', async () => {
    alice.client.send({ cmd: Command.MESSAGE, reqMsg: 'in-band to bob', properties: { msgId: 'm-1', receiveUserId: String(bob.userId) } });
    const ack = await alice.client.next((f) => f.cmd === Command.MESSAGE_ACK && f.properties['msgId'] === 'm-1');
    expect(ack.properties).toMatchObject({ code: '9000', online: '1' });
    expect(ack.properties['seq']).toMatch(/^[1-9]\d*$/);
    const got = await bob.client.next(fromUser(alice, 'in-band to bob'));
    expect(got.properties['msgId']).toBe('m-1');

    carol.client.send({ cmd: Command.MESSAGE, reqMsg: 'in-band group', properties: { msgId: 'm-2' } });
    expect((await carol.client.next((f) => f.cmd === Command.MESSAGE_ACK && f.properties['msgId'] === 'm-2')).properties['code']).toBe('9000');
    await alice.client.next(fromUser(carol, 'in-band group'));
    await bob.client.next(fromUser(carol, 'in-band group'));
  });

  it('answers 7000 for an offline receiver and delivers the message at its next login', async () => {
    const dave = (await api.register('dave')).dataBody;
    const sent = await api.p2p(alice.userId, dave.userId, 'while you were away');
    expect(sent).toEqual({ code: '7000', message: 'You selected user is offline!, please try again later!', reqNo: null, dataBody: null });
    const online = await onlineUser('dave');
    // A protocol-2 client gets the stored message as a single replayed MESSAGE with its own id and seq.
    const got = await online.client.next((f) => f.cmd === Command.MESSAGE && f.properties['replay'] === '1');
    // CIM's clients still ask for them; nothing is left, and nothing is delivered twice.
    expect((await api.fetchOffline(dave.userId)).code).toBe('9000');
    expect(got.reqMsg).toBe('while you were away');
    expect(got.properties).toMatchObject({ sendUserId: String(alice.userId), sendUserName: 'alice', receiveUserId: String(dave.userId), seq: '1', chatType: 'private' });
    expect(got.properties['msgId']).toMatch(/^[A-Za-z0-9_-]{1,64}$/);
    await api.p2p(alice.userId, dave.userId, 'now live');
    const live = await online.client.next(fromUser(alice, 'now live'));
    expect(live.properties['seq']).toBe('2');
    expect(messages(online.client).filter((f) => f.reqMsg === 'while you were away')).toHaveLength(1);
    expect(online.client.frames.filter((f) => f.cmd === Command.OFFLINE)).toHaveLength(0);
  });

  it('gives a CIM raw TCP client its stored messages as an OFFLINE batch at login, once', async () => {
    const gina = (await api.register('gina')).dataBody;
    expect((await api.p2p(alice.userId, gina.userId, 'first')).code).toBe('7000');
    expect((await api.p2p(alice.userId, gina.userId, 'second')).code).toBe('7000');
    const login = await api.login(gina.userId, 'gina');
    const tcp = await connectTcp(login.dataBody!.ip, login.dataBody!.cimServerPort);
    clients.push(tcp);
    tcp.login(gina.userId, 'gina');
    const batch = await tcp.next((f) => f.cmd === Command.OFFLINE);
    expect(batch.batchReqMsg).toEqual(['first', 'second']);
    expect(batch.properties).toMatchObject({ sendUserId: String(alice.userId), sendUserName: 'alice', receiveUserId: String(gina.userId) });
    // The server removed them once written: a later live message is the only other frame.
    await api.p2p(alice.userId, gina.userId, 'third');
    await tcp.next(fromUser(alice, 'third'));
    expect(tcp.frames.filter((f) => f.cmd !== Command.PING).map((f) => [f.cmd, f.reqMsg])).toEqual([[Command.OFFLINE, ''], [Command.MESSAGE, 'third']]);
  });

  it('refuses a duplicate login with 5000 and accepts it again after logout', async () => {
    const erin = (await api.register('erin')).dataBody;
    expect((await api.login(erin.userId, 'erin')).code).toBe('9000');
    expect(await api.login(erin.userId, 'erin')).toEqual({ code: '5000', message: 'Repeat login, log out an account please!', reqNo: null, dataBody: null });
    expect((await api.offLine(erin.userId)).code).toBe('9000');
    const again = await api.login(erin.userId, 'erin');
    expect(again.code).toBe('9000');
    // Without protocol 2, the login answer has exactly CIM's fields (CIM's Java SDK rejects others).
    expect(Object.keys(again.dataBody!).sort()).toEqual(['cimServerPort', 'httpPort', 'ip']);
  });

  it('refuses a login with a wrong name or an unknown id with 9100', async () => {
    expect((await api.login(alice.userId, 'mallory')).code).toBe('9100');
    expect((await api.login(999, 'nobody')).code).toBe('9100');
  });

  it('serves CIM raw TCP clients byte for byte', async () => {
    const frank = (await api.register('frank')).dataBody;
    const login = await api.login(frank.userId, 'frank');
    expect(login.code).toBe('9000');
    const tcp = await connectTcp(login.dataBody!.ip, login.dataBody!.cimServerPort);
    clients.push(tcp);
    // CIM's login has no answer (and a PING is answered before the login is handled): the server's
    // login counter says when frank's session is bound, so the message below goes out live.
    const loginsOk = async () => Number(/^cim_server_logins_total\{[^}]*result="ok"[^}]*\} (\d+)/m.exec(await (await fetch(`http://${login.dataBody!.ip}:${login.dataBody!.httpPort}/metrics`)).text())?.[1] ?? 0);
    const before = await loginsOk();
    tcp.login(frank.userId, 'frank');
    tcp.ping(frank.userId);
    await tcp.next((f) => f.cmd === Command.PING);
    expect(Buffer.concat(tcp.received).subarray(0, 9)).toEqual(Buffer.from('080a04706f6e671802', 'hex'));
    await expect.poll(loginsOk).toBeGreaterThan(before);
    await api.p2p(alice.userId, frank.userId, 'hello frank');
    const push = await tcp.next(fromUser(alice, 'hello frank'));
    expect(push.requestId).toBe(frank.userId);
    expect(push.properties).toEqual(expect.objectContaining({ sendUserId: String(alice.userId), sendUserName: 'alice', receiveUserId: String(frank.userId) }));
    // A CIM client never receives extension frames (no LOGIN_RESPONSE).
    expect(tcp.frames.every((f) => f.cmd === Command.PING || f.cmd === Command.MESSAGE)).toBe(true);
  });

  it('answers bad JSON and invalid bodies with clear errors, never a 500', async () => {
    const notJson = await fetch(`${cluster.routeUrl}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"userId":' });
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({ code: '3000', reqNo: null, dataBody: null });
    const invalid = await api.post('/p2pRoute', { userId: 'x', receiveUserId: -1 });
    expect(invalid).toMatchObject({ code: '3000', reqNo: null, dataBody: null });
    expect(invalid.message).toMatch(/invalid argument/);
    expect(await api.post('/registerAccount', { userName: '' })).toMatchObject({ code: '3000' });
    expect(await api.post('/registerAccount', {})).toMatchObject({ code: '3000' });
  });

  it('closes a connection that sends a bad frame and keeps serving everyone else', async () => {
    const server = cluster.servers[0]!;
    const garbage = await connectTcp('127.0.0.1', server.tcpPort);
    garbage.sendBytes(encodeLengthPrefixed(Buffer.from([0x0a, 0xff, 0xff, 0xff])));
    await garbage.closed;
    const oversize = await connectWs(`ws://127.0.0.1:${server.httpPort}/ws`);
    oversize.sendBytes(Buffer.alloc(2 * 1024 * 1024 + 65_536 + 1, 1)); // one byte over the default frame limit (max message + 64 KiB)
    expect((await oversize.closed).code).toBe(1009);
    const hugeTcp = await connectTcp('127.0.0.1', server.tcpPort);
    hugeTcp.sendBytes(Buffer.from([0xff, 0xff, 0xff, 0x7f]));
    await hugeTcp.closed;

    await api.p2p(bob.userId, alice.userId, 'still here?');
    await alice.client.next(fromUser(bob, 'still here?'));
    expect(alice.client.isOpen() && bob.client.isOpen() && carol.client.isOpen()).toBe(true);
    expect((await fetch(`http://127.0.0.1:${server.httpPort}/healthz`)).status).toBe(200);
  });

  it('accepts CIM\'s /sendMsg push with CIM\'s exact reply', async () => {
    const holder = `${alice.server.ip}:${alice.server.httpPort}`;
    const res = await fetch(`http://${holder}/sendMsg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ msg: 'via sendMsg', userId: alice.userId, cmd: 'MESSAGE', properties: { sendUserId: '1', sendUserName: 'java-route', receiveUserId: String(alice.userId) } }),
    });
    expect(await res.text()).toBe('{"code":"9000","message":"Success","reqNo":null,"dataBody":{"msg":"OK"}}');
    const got = await alice.client.next((f) => f.reqMsg === 'via sendMsg');
    expect(got.properties).toMatchObject({ sendUserName: 'java-route', receiveUserId: String(alice.userId) });
  });

  it('pushes to many recipients of one server in one /push call and reports who is not there', async () => {
    const sameServer = [alice, bob, carol].filter((u) => u.server.httpPort === alice.server.httpPort);
    const elsewhere = [alice, bob, carol].filter((u) => u.server.httpPort !== alice.server.httpPort);
    const res = await fetch(`http://${alice.server.ip}:${alice.server.httpPort}/push`, {
      method: 'POST',
      // Pushes need the cluster's shared secret in every --auth mode (docs/decisions.md).
      headers: { 'content-type': 'application/json', 'x-cim-push-auth': pushAuthHeader(cluster.authSecret) },
      body: JSON.stringify({ receivers: [alice, bob, carol].map((u) => u.userId), msg: 'batch push', properties: { sendUserId: '1', sendUserName: 'ops' } }),
    });
    const body = (await res.json()) as { code: string; dataBody: { delivered: number; offline: number[] } };
    expect(body.code).toBe('9000');
    expect(body.dataBody.delivered).toBe(sameServer.length);
    expect(body.dataBody.offline.sort()).toEqual(elsewhere.map((u) => u.userId).sort());
    for (const u of sameServer) await u.client.next((f) => f.reqMsg === 'batch push');
  });

  it('exposes Prometheus metrics on servers and route', async () => {
    const serverMetrics = await (await fetch(`http://127.0.0.1:${cluster.servers[0]!.httpPort}/metrics`)).text();
    expect(serverMetrics).toMatch(/^cim_server_connections\{transport="ws",component="cim-server"\} \d+/m);
    expect(serverMetrics).toMatch(/^cim_server_frames_in_total\{cmd="LOGIN_REQUEST",component="cim-server"\} [1-9]/m);
    const routeMetrics = await (await fetch(`${cluster.routeUrl}/metrics`)).text();
    expect(routeMetrics).toMatch(/^cim_route_logins_total\{result="ok",component="cim-route"\} [1-9]/m);
    expect(routeMetrics).toMatch(/^cim_route_live_servers\{component="cim-route"\} 2$/m);
  });
});
