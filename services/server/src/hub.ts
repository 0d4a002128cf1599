/**
 * Node-local registry: every open session, and the logged-in ones of each userId (one, or one per device
 * with --login-policy multi); and the fan-out of a frame to many sessions, encoded once.
 */
import { encodeMessage, type CimFrame } from '../../common/src/codec.ts';
import type { Session } from './session.ts';
import { EncodedFrame } from './transport/encoded-frame.ts';

export class Hub {
  readonly #sessions = new Set<Session>();
  /** userId -> its logged-in sessions, oldest first (never empty) */
  readonly #byUser = new Map<number, Session[]>();

  get connectionCount(): number {
    return this.#sessions.size;
  }

  get userCount(): number {
    return this.#byUser.size;
  }

  add(session: Session): void {
    this.#sessions.add(session);
  }

  /**
   * Binds a logged-in session to its user; returns the sessions it replaced: the user's other session
   * (one session per user), or with `perDevice` (--login-policy multi) the one of the same device.
   */
  bindUser(session: Session, perDevice = false): Session[] {
    const current = this.#byUser.get(session.userId) ?? [];
    const replaced = current.filter((s) => s !== session && (!perDevice || s.device === session.device));
    this.#byUser.set(session.userId, [...current.filter((s) => s !== session && !replaced.includes(s)), session]);
    return replaced;
  }

  /** Removes a session; returns true when it was its user's last session here (the user went offline here). */
  remove(session: Session): boolean {
    this.#sessions.delete(session);
    const current = session.userId !== 0 ? this.#byUser.get(session.userId) : undefined;
    if (!current?.includes(session)) return false;
    const rest = current.filter((s) => s !== session);
    if (rest.length > 0) this.#byUser.set(session.userId, rest);
    else this.#byUser.delete(session.userId);
    return rest.length === 0;
  }

  /** The user's newest logged-in session, if one is open. */
  session(userId: number): Session | undefined {
    return this.#byUser.get(userId)?.at(-1);
  }

  /** Every logged-in session of the user (one per device with --login-policy multi). */
  sessionsOf(userId: number): readonly Session[] {
    return this.#byUser.get(userId) ?? [];
  }

  sessions(): IterableIterator<Session> {
    return this.#sessions.values();
  }

  userIds(): number[] {
    return [...this.#byUser.keys()];
  }

  /**
   * Writes one frame to every logged-in user but `exclude`, encoded once: the same bytes go to every
   * session (no per-session receiveUserId: protocol-2 clients know who they are, and CIM's Java client
   * reads only sendUserName and reqMsg of a push). Returns the sessions it was written to.
   */
  broadcast(frame: Partial<CimFrame>, exclude: ReadonlySet<number>): Session[] {
    const encoded = new EncodedFrame(encodeMessage(frame));
    const cmd = frame.cmd ?? 0;
    const written: Session[] = [];
    for (const [userId, sessions] of this.#byUser) {
      if (exclude.has(userId)) continue;
      for (const session of sessions) if (session.writeEncoded(cmd, encoded)) written.push(session);
    }
    return written;
  }
}
