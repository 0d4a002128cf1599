/**
 * LOGIN_REQUEST: validation, token, account, presence; then LOGIN_RESPONSE with maxSeq and the replay
 * of the pending inbox. A newer login of the same user on this server replaces (4100) the older one.
 */
import { verifyToken } from '../../common/src/auth.ts';
import { Codes, type WireCode } from '../../common/src/codes.ts';
import { Command, Prop, type CimFrame } from '../../common/src/codec.ts';
import { closeSession, type ServerNodeOptions } from './context.ts';
import type { Hub } from './hub.ts';
import type { InboxReplayer } from './replay.ts';
import type { CloseReason, Session } from './session.ts';

const MAX_USER_NAME = 128;

export class LoginHandler {
  readonly #o: ServerNodeOptions;
  readonly #hub: Hub;
  readonly #replayer: InboxReplayer;
  readonly #draining: () => boolean;

  constructor(options: ServerNodeOptions, hub: Hub, replayer: InboxReplayer, draining: () => boolean) {
    this.#o = options;
    this.#hub = hub;
    this.#replayer = replayer;
    this.#draining = draining;
  }

  async handle(session: Session, frame: CimFrame): Promise<void> {
    session.announceProtocol(frame.properties[Prop.protocol] ?? '');
    try {
      await this.#login(session, frame);
    } catch (err) {
      // Redis (accounts, presence, inbox) failed: nothing was promised; the client may try again.
      this.#o.log.warn({ err, userId: frame.requestId }, 'login failed on a store error');
      if (session.status === 'connecting') this.#refuse(session, frame.requestId, Codes.STORE_UNAVAILABLE, 'store unavailable, log in again', 'login-retry');
    }
  }

  #refuse(session: Session, userId: number, code: WireCode, reason: string, close: CloseReason): void {
    this.#o.metrics.logins.inc({ result: 'refused' });
    session.write({ cmd: Command.LOGIN_RESPONSE, requestId: userId, properties: { [Prop.code]: code.code, [Prop.reason]: reason } });
    closeSession(this.#o.log, session, close, reason);
  }

  async #login(session: Session, frame: CimFrame): Promise<void> {
    const userId = frame.requestId;
    const userName = frame.reqMsg;
    if (session.status === 'ready') {
      if (userId === session.userId) session.write({ cmd: Command.LOGIN_RESPONSE, requestId: userId, properties: { [Prop.code]: Codes.SUCCESS.code } });
      else this.#refuse(session, userId, Codes.VALIDATION_FAIL, 'already logged in as another user on this connection', 'login-refused');
      return;
    }
    if (!Number.isSafeInteger(userId) || userId <= 0 || userName === '' || userName.length > MAX_USER_NAME) {
      return this.#refuse(session, userId, Codes.VALIDATION_FAIL, 'LOGIN_REQUEST needs requestId = userId > 0 and reqMsg = userName', 'login-refused');
    }
    if (this.#draining()) return this.#refuse(session, userId, Codes.SERVER_DRAINING, 'server is shutting down', 'shutdown');
    if (this.#o.authSecret) {
      const check = verifyToken(this.#o.authSecret, frame.properties[Prop.token], userId, this.#o.clock.now());
      // An expired token is renewed by logging in through the route again; any other failure is final.
      if (!check.ok) return this.#refuse(session, userId, Codes.UNAUTHORIZED, `token ${check.reason}`, check.reason === 'expired' ? 'login-retry' : 'login-refused');
    }
    const account = await this.#o.store.getAccount(userId);
    if (!account || account.userName !== userName) return this.#refuse(session, userId, Codes.ACCOUNT_NOT_MATCH, Codes.ACCOUNT_NOT_MATCH.message, 'login-refused');
    const { movedElsewhere } = await this.#o.store.refreshPresence(this.#o.selfId, [userId], this.#o.presenceTtlMs);
    if (movedElsewhere.includes(userId)) return this.#refuse(session, userId, Codes.REPEAT_LOGIN, 'user is online on another server; log in through the route', 'moved-elsewhere');
    const maxSeq = await this.#o.inbox.maxSeq(userId);
    if (!session.login(userId, userName)) {
      // Closed while we were asking Redis: undo the presence unless another session of the user is here.
      if (!this.#hub.session(userId)) await this.#o.store.logout(userId, this.#o.selfId);
      return;
    }
    const replaced = this.#hub.bindUser(session);
    if (replaced) closeSession(this.#o.log, replaced, 'replaced', 'a newer login of the same user on this server');
    this.#o.metrics.users.set(this.#hub.userCount);
    this.#o.metrics.logins.inc({ result: 'ok' });
    this.#o.log.debug({ userId, transport: session.transport.kind, protocol: session.protocol || '1' }, 'client logged in');
    session.write({ cmd: Command.LOGIN_RESPONSE, requestId: userId, properties: { [Prop.code]: Codes.SUCCESS.code, [Prop.maxSeq]: String(maxSeq) } });
    // The server holds the session, so it pushes the pending inbox itself, at every login.
    await this.#replayer.replay(session).catch((err: unknown) => this.#o.log.warn({ err, userId }, 'inbox replay failed; the client can SYNC'));
  }
}
