/**
 * The PushTransport contract (services/common/src/push.ts), run against every transport: the local shortcut
 * into an in-process ServerNode (unit tier) and HTTP to a real cim-server process (integration tier).
 * Guarantee under test: at most once, live. A resolved push says how many frames were written to open
 * sessions (`delivered`) and which explicit receivers were not there (`offline`); every written frame
 * arrives exactly once; an unreachable server rejects. Every assertion counts frames.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Command, type CimFrame } from '../../services/common/src/codec.ts';
import type { PushRequest, PushTransport } from '../../services/common/src/push.ts';

/** A user logged in on the fixture's server, and what it received. */
export interface PushReceiver {
  readonly userId: number;
  readonly frames: readonly CimFrame[];
  /** Waits for the first frame (received or future) matching `match`. */
  next(match: (f: CimFrame) => boolean, what: string): Promise<CimFrame>;
}

export interface PushTransportFixture {
  readonly transport: PushTransport;
  /** the server every push goes to */
  readonly server: string;
  /** a well-formed server address nothing answers at */
  readonly unreachable: string;
  connect(userName: string): Promise<PushReceiver>;
  close(): Promise<void>;
}

/** A userId no account has. */
const NOBODY = 987_654_321;

export function describePushTransportContract(name: string, create: () => Promise<PushTransportFixture>): void {
  describe(`PushTransport contract: ${name}`, () => {
    let f: PushTransportFixture;
    /** Everyone connected so far in this suite: a broadcast reaches all of them. */
    const online: PushReceiver[] = [];
    let users = 0;
    let markers = 0;
    beforeAll(async () => {
      f = await create();
    });
    afterAll(async () => {
      await f?.close();
    });

    const connect = async (): Promise<PushReceiver> => {
      const r = await f.connect(`push-contract-${++users}`);
      online.push(r);
      return r;
    };
    const push = (request: Partial<PushRequest>) => f.transport.push(f.server, { properties: {}, ...request });
    const withText = (text: string) => (frame: CimFrame) => frame.reqMsg === text || (frame.batchReqMsg ?? []).includes(text);
    const count = (r: PushReceiver, text: string) => r.frames.filter(withText(text)).length;
    /**
     * Pushes a marker to each receiver and waits for it: a session receives in push order, so after the
     * marker every earlier frame has arrived, and a count is final (no late duplicate can follow).
     */
    const drain = async (...receivers: PushReceiver[]) => {
      const marker = `marker-${++markers}`;
      const result = await push({ receivers: receivers.map((r) => r.userId), msg: marker });
      expect(result).toEqual({ delivered: receivers.length, offline: [] });
      for (const r of receivers) await r.next(withText(marker), marker);
    };

    it('writes to each connected receiver once and names the receivers not connected', async () => {
      const [a, b] = [await connect(), await connect()];
      const result = await push({ receivers: [a.userId, NOBODY, b.userId], msg: 'hello' });
      expect(result).toEqual({ delivered: 2, offline: [NOBODY] });
      await drain(a, b);
      expect([count(a, 'hello'), count(b, 'hello')]).toEqual([1, 1]);
      const frame = a.frames.find(withText('hello'))!;
      expect(frame.cmd).toBe(Command.MESSAGE);
      expect(frame.properties['receiveUserId']).toBe(String(a.userId));
    });

    it('resolves with delivered 0 and everyone offline when no receiver is connected', async () => {
      expect(await push({ receivers: [NOBODY, NOBODY + 1], msg: 'nobody home' })).toEqual({ delivered: 0, offline: [NOBODY, NOBODY + 1] });
    });

    it('broadcasts once to every connected user except the excluded ones', async () => {
      const [a, b, c] = [await connect(), await connect(), await connect()];
      const result = await push({ broadcast: true, excludeUserIds: [a.userId], msg: 'to all' });
      expect(result).toEqual({ delivered: online.length - 1, offline: [] });
      await drain(...online);
      expect(online.map((r) => count(r, 'to all'))).toEqual(online.map((r) => (r === a ? 0 : 1)));
      expect([count(b, 'to all'), count(c, 'to all')]).toEqual([1, 1]);
    });

    it('writes a batch as one frame carrying every message, in order', async () => {
      const a = await connect();
      const batch = ['first', 'second', 'third'];
      expect(await push({ receivers: [a.userId], batchMsg: batch, cmd: 'OFFLINE' })).toEqual({ delivered: 1, offline: [] });
      const frame = await a.next(withText('first'), 'the batch');
      await drain(a);
      expect(frame.batchReqMsg).toEqual(batch);
      expect(a.frames.filter(withText('second'))).toHaveLength(1);
    });

    it('writes a receipt with the properties as given (the reader stays the receiveUserId)', async () => {
      const sender = await connect();
      const properties = { status: 'read', receiveUserId: '42', sendUserId: String(sender.userId) };
      expect(await push({ receivers: [sender.userId], batchMsg: ['m-1', 'm-2'], cmd: 'RECEIPT', properties })).toEqual({ delivered: 1, offline: [] });
      const frame = await sender.next((fr) => fr.cmd === Command.RECEIPT, 'the receipt');
      await drain(sender);
      expect(frame.properties).toMatchObject(properties);
      expect(sender.frames.filter((fr) => fr.cmd === Command.RECEIPT)).toHaveLength(1);
    });

    it('delivers each of 200 concurrent pushes exactly once, and the results add up to what arrived', async () => {
      const [a, b] = [await connect(), await connect()];
      const texts = Array.from({ length: 200 }, (_, i) => `burst-${i}`);
      const results = await Promise.all(texts.map((text, i) => push({ receivers: i % 2 === 0 ? [a.userId, b.userId] : [a.userId], msg: text })));
      expect(results.reduce((sum, r) => sum + r.delivered, 0)).toBe(300);
      expect(results.every((r) => r.offline.length === 0)).toBe(true);
      await drain(a, b);
      expect(texts.map((t) => count(a, t))).toEqual(texts.map(() => 1));
      expect(texts.map((t) => count(b, t))).toEqual(texts.map((_, i) => (i % 2 === 0 ? 1 : 0)));
    });

    it('rejects a push to a server that cannot be reached, and keeps serving the reachable one', async () => {
      const a = await connect();
      await expect(f.transport.push(f.unreachable, { receivers: [a.userId], msg: 'lost', properties: {} })).rejects.toThrow();
      expect(await push({ receivers: [a.userId], msg: 'after' })).toEqual({ delivered: 1, offline: [] });
      await drain(a);
      expect([count(a, 'lost'), count(a, 'after')]).toEqual([0, 1]);
    });
  });
}
