/**
 * A scripted WebSocket peer for the few server behaviours a real cim-server cannot be made to show on
 * purpose (a refused LOGIN_REQUEST, a GOAWAY in the same read as LOGIN_RESPONSE, terminal advice, a
 * retryable MESSAGE_ACK failure). Not a server: it speaks only what its script says. Loopback only.
 */
import { WebSocketServer, type WebSocket } from 'ws';
import { Codes } from '../../../common/src/codes.ts';
import { Command, Prop, decodeMessage, encodeMessage, type CimFrame } from '../../../common/src/codec.ts';

export interface PeerScript {
  /** LOGIN_RESPONSE code; default 9000. */
  readonly loginCode?: string;
  /** Frames written right after LOGIN_RESPONSE, in the same tick. */
  readonly afterLogin?: readonly Partial<CimFrame>[];
  /** Answers a MESSAGE frame (default: SENT with seq 1). */
  readonly onMessage?: (frame: CimFrame, reply: (frame: Partial<CimFrame>) => void, count: number) => void;
  /** Answers SYNC (default: nothing). */
  readonly onSync?: (frame: CimFrame, reply: (frame: Partial<CimFrame>) => void) => void;
}

export interface PeerEndpoint {
  readonly ip: string;
  readonly cimServerPort: number;
  readonly httpPort: number;
  readonly wsPath: string;
}

export class ScriptedPeer {
  readonly #wss: WebSocketServer;
  readonly received: CimFrame[] = [];
  script: PeerScript;
  #messages = 0;

  private constructor(wss: WebSocketServer, script: PeerScript) {
    this.#wss = wss;
    this.script = script;
    wss.on('connection', (ws) => this.#serve(ws));
  }

  static async start(script: PeerScript = {}): Promise<ScriptedPeer> {
    const wss = await new Promise<WebSocketServer>((resolve, reject) => {
      const s: WebSocketServer = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/ws' }, (): void => resolve(s));
      s.once('error', reject);
    });
    return new ScriptedPeer(wss, script);
  }

  get endpoint(): PeerEndpoint {
    const { port } = this.#wss.address() as { port: number };
    return { ip: '127.0.0.1', cimServerPort: port, httpPort: port, wsPath: '/ws' };
  }

  stop(): Promise<void> {
    for (const ws of this.#wss.clients) ws.terminate();
    return new Promise((resolve) => this.#wss.close(() => resolve()));
  }

  #serve(ws: WebSocket): void {
    const send = (frame: Partial<CimFrame>): void => ws.send(encodeMessage(frame));
    ws.on('message', (data: Buffer) => {
      let frame: CimFrame;
      try {
        frame = decodeMessage(data);
      } catch {
        return void ws.terminate();
      }
      this.received.push(frame);
      if (frame.cmd === Command.LOGIN_REQUEST) {
        send({ cmd: Command.LOGIN_RESPONSE, requestId: frame.requestId, properties: { [Prop.code]: this.script.loginCode ?? Codes.SUCCESS.code, [Prop.maxSeq]: '0' } });
        for (const f of this.script.afterLogin ?? []) send(f);
      } else if (frame.cmd === Command.PING) {
        send({ cmd: Command.PING, reqMsg: 'pong' });
      } else if (frame.cmd === Command.MESSAGE) {
        const count = ++this.#messages;
        const answer = this.script.onMessage ?? ((f, reply) => reply({ cmd: Command.MESSAGE_ACK, properties: { [Prop.msgId]: f.properties[Prop.msgId] ?? '', [Prop.code]: Codes.SUCCESS.code, [Prop.seq]: '1', [Prop.online]: '1' } }));
        answer(frame, send, count);
      } else if (frame.cmd === Command.SYNC) {
        this.script.onSync?.(frame, send);
      }
    });
    ws.on('error', () => ws.terminate());
  }
}
