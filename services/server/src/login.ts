/**
 * LOGIN_REQUEST: validation, token, account, presence; then LOGIN_RESPONSE with maxSeq and the replay
 * of the pending inbox. A newer login of the same user on this server replaces (4100) the older one.
 * Password mode (an auth secret, mode not 'cim'): the route's JWT for that user, not revoked; live
 * sessions are re-checked every few seconds and a revoked one (logout, password change) is closed (4101).
 */
import { verifyToken, type TokenClaims } from '../../common/src/auth.ts';
import { Codes, type WireCode } from '../../common/src/codes.ts';
import { DEVICE_PATTERN } from '../../common/src/inbox/types.ts';
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
  /** Logged-in sessions and the token each logged in with, for the revocation check. */
  readonly #tokens = new Map<Session, TokenClaims>();
  #revocationTimer: NodeJS.Timeout | undefined;
  #checking = false;
  /** userId -> the tail of its logins on this server (#inTurn) */
  readonly #chains = new Map<number, Promise<void>>();

  constructor(options: ServerNodeOptions, hub: Hub, replayer: InboxReplayer, draining: () => boolean) {
    this.#o = options;
    this.#hub = hub;
    this.#replayer = replayer;
    this.#draining = draining;
  }

  get #passwordMode(): boolean {
    return this.#o.authSecret !== undefined && this.#o.authSecret !== '' && this.#o.authMode !== 'cim';
  }

  /** Runs only while there are sessions to check; unref'd, so it never keeps the process alive. */
  #track(session: Session, claims: TokenClaims): void {
    if (!this.#o.authStore) return;
    this.#tokens.set(session, claims);
    this.#revocationTimer ??= setInterval(() => void this.checkRevocations(), this.#o.revocationCheckMs ?? 5000).unref();
  }

  /** Closes (4101) every live session whose token was revoked. Exposed for tests. */
  async checkRevocations(): Promise<number> {
    const store = this.#o.authStore;
    if (!store || this.#checking) return 0;
    this.#checking = true;
    let closed = 0;
    try {
      for (const [session, claims] of [...this.#tokens]) {
        if (session.status === 'closed') {
          this.#tokens.delete(session);
          continue;
        }
        if (!(await store.isRevoked(claims))) continue;
        this.#tokens.delete(session);
        if (session.status !== 'ready') continue; // closed while we asked the store
        session.write({ cmd: Command.LOGIN_RESPONSE, requestId: claims.userId, properties: { [Prop.code]: Codes.UNAUTHORIZED.code, [Prop.reason]: 'token revoked' } });
        closeSession(this.#o.log, session, 'login-refused', 'token revoked (logout or password change)');
        closed++;
      }
    } catch (err) {
      this.#o.log.warn({ err }, 'revocation check failed; retried at the next tick');
    } finally {
      this.#checking = false;
      if (this.#tokens.size === 0 && this.#revocationTimer) {
        clearInterval(this.#revocationTimer);
        this.#revocationTimer = undefined;
      }
    }
    return closed;
  }

  async handle(session: Session, frame: CimFrame): Promise<void> {
    session.announceProtocol(frame.properties[Prop.protocol] ?? '');
    try {
      await this.#login(session, frame);
    } catch (err) {
      await this.#failed(session, frame.requestId, err);
    }
  }

  /** Runs `then` once no login of the user is in progress on this server (at once when none is). */
  afterLogins(userId: number, then: () => void): void {
    const chain = this.#chains.get(userId);
    if (chain) void chain.then(then);
    else then();
  }

  /**
   * Runs `step` after every earlier login of the user on this server finished, its undo included: a login given
   * up (closed while it waited for the store) takes its presence back before a newer login of the same user
   * writes it, never after it (that deleted the newer login's route: the user was online without one, and
   * every message to it waited for its next SYNC).
   */
  #inTurn(userId: number, step: () => Promise<void>): Promise<void> {
    const run = (this.#chains.get(userId) ?? Promise.resolve()).then(step);
    const tail = run.catch(() => undefined);
    this.#chains.set(userId, tail);
    void tail.then(() => {
      if (this.#chains.get(userId) === tail) this.#chains.delete(userId);
    });
    return run;
  }

  /** Redis (accounts, presence, inbox) failed: nothing was promised; the client may try again. */
  async #failed(session: Session, userId: number, err: unknown): Promise<void> {
    this.#o.log.warn({ err, userId }, 'login failed on a store error');
    if (session.status === 'connecting') this.#refuse(session, userId, Codes.STORE_UNAVAILABLE, 'store unavailable, log in again', 'login-retry');
    await this.#undoPresence(session, userId);
  }

  /**
   * A login that did not complete may have written the user's presence already (refreshPresence re-creates a
   * missing route): take it back, unless a session of the user lives here, or the route would refuse the
   * client's next /login with 5000 until it expired.
   */
  async #undoPresence(session: Session, userId: number): Promise<void> {
    if (session.status === 'ready' || !Number.isSafeInteger(userId) || userId <= 0 || this.#hub.session(userId)) return;
    await this.#o.store.logout(userId, this.#o.selfId).catch((err: unknown) => this.#o.log.warn({ err, userId }, 'clearing the presence of a failed login failed; it expires'));
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
    let claims: TokenClaims | undefined;
    if (this.#passwordMode) {
      const check = await verifyToken(this.#o.authSecret!, frame.properties[Prop.token], userId, this.#o.clock.now());
      // An expired token is renewed through the route (/refresh, /login); any other failure is final.
      if (!check.ok) {
        if (check.reason === 'expired') return this.#refuse(session, userId, Codes.TOKEN_EXPIRED, 'token expired', 'login-retry');
        return this.#refuse(session, userId, Codes.UNAUTHORIZED, `token ${check.reason}`, 'login-refused');
      }
      if (this.#o.authStore && (await this.#o.authStore.isRevoked(check.claims))) return this.#refuse(session, userId, Codes.UNAUTHORIZED, 'token revoked', 'login-refused');
      claims = check.claims;
    }
    // From here on the store is read and the presence written: one login of a user at a time on this server, up to
    // its LOGIN_RESPONSE (the replay that follows may take long, and the next login replaces this session anyway).
    await this.#inTurn(userId, () => this.#loginAs(session, frame, userId, userName, claims).catch((err: unknown) => this.#failed(session, userId, err)));
    // The server holds the session (this login bound it: its userId is set), so it pushes the pending inbox itself.
    if (session.open && session.userId === userId) await this.#replayer.replay(session).catch((err: unknown) => this.#o.log.warn({ err, userId }, 'inbox replay failed; the client can SYNC'));
  }

  async #loginAs(session: Session, frame: CimFrame, userId: number, userName: string, claims: TokenClaims | undefined): Promise<void> {
    const account = await this.#o.store.getAccount(userId);
    // Closed while the store answered (the login timeout of a stalled store): the presence must not be written
    // now, as refreshPresence re-creates a missing route, and the client may have logged in elsewhere and out.
    if (session.status !== 'connecting') return;
    if (!account || account.userName !== userName) return this.#refuse(session, userId, Codes.ACCOUNT_NOT_MATCH, Codes.ACCOUNT_NOT_MATCH.message, 'login-refused');
    const { movedElsewhere } = await this.#o.store.refreshPresence(this.#o.selfId, [userId], this.#o.presenceTtlMs);
    if (session.status !== 'connecting') return this.#undoPresence(session, userId);
    if (movedElsewhere.includes(userId)) return this.#refuse(session, userId, Codes.REPEAT_LOGIN, 'user is online on another server; log in through the route', 'moved-elsewhere');
    const multi = this.#o.loginPolicy === 'multi';
    let device: string | undefined;
    if (multi) {
      device = frame.properties[Prop.device] ?? '';
      if (device !== '' && !DEVICE_PATTERN.test(device)) return this.#refuse(session, userId, Codes.VALIDATION_FAIL, 'device must match [A-Za-z0-9_-]{1,64}', 'login-refused');
      // The user's devices all log in on this server (the route sends them where the user is), so its live ones are here.
      const keep = this.#hub.sessionsOf(userId).map((s) => s.inboxDevice);
      const linked = await this.#o.inbox.linkDevice(userId, device, { maxDevices: this.#o.maxDevices ?? 5, idleMs: this.#o.deviceIdleMs ?? 259_200_000, now: this.#o.clock.now(), keep });
      if (!linked.ok) return this.#refuse(session, userId, Codes.DEVICE_LIMIT, `${this.#o.maxDevices ?? 5} devices of this user are online`, 'login-refused');
      if (linked.evicted.length > 0) this.#o.log.info({ userId, evicted: linked.evicted }, 'unlinked idle or surplus devices');
    }
    const maxSeq = await this.#o.inbox.maxSeq(userId);
    if (!session.login(userId, userName, device)) {
      // Closed while we were asking Redis (e.g. the login timeout).
      await this.#undoPresence(session, userId);
      return;
    }
    if (claims) this.#track(session, claims);
    const firstHere = this.#hub.sessionsOf(userId).length === 0;
    for (const replaced of this.#hub.bindUser(session, multi)) closeSession(this.#o.log, replaced, 'replaced', multi ? 'a newer login of the same device' : 'a newer login of the same user on this server');
    this.#o.metrics.users.set(this.#hub.userCount);
    this.#o.metrics.logins.inc({ result: 'ok' });
    this.#o.log.debug({ userId, transport: session.transport.kind, protocol: session.protocol || '1' }, 'client logged in');
    session.write({ cmd: Command.LOGIN_RESPONSE, requestId: userId, properties: { [Prop.code]: Codes.SUCCESS.code, [Prop.maxSeq]: String(maxSeq) } });
    if (firstHere) void this.#o.presence?.online(userId, userName);
  }
}
