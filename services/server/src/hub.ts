/**
 * Node-local registry: every open session, and the logged-in one of each userId; and the fan-out of a
 * frame to many sessions, encoded once.
 */
import { encodeMessage, type CimFrame } from '../../common/src/codec.ts';
import { encodeLengthPrefixed } from '../../common/src/framing.ts';
import type { Session } from './session.ts';

export class Hub {
  readonly #sessions = new Set<Session>();
  readonly #byUser = new Map<number, Session>();

  get connectionCount(): number {
    return this.#sessions.size;
  }

  get userCount(): number {
    return this.#byUser.size;
  }

  add(session: Session): void {
    this.#sessions.add(session);
  }

  /** Binds a logged-in session to its user; returns the session it replaced, if any. */
  bindUser(session: Session): Session | undefined {
    const previous = this.#byUser.get(session.userId);
    this.#byUser.set(session.userId, session);
    return previous !== session ? previous : undefined;
  }

  /** Removes a session; returns true when it was its user's current session (the user went offline here). */
  remove(session: Session): boolean {
    this.#sessions.delete(session);
    if (session.userId !== 0 && this.#byUser.get(session.userId) === session) {
      this.#byUser.delete(session.userId);
      return true;
    }
    return false;
  }

  /** The user's logged-in session, if it is still open. */
  session(userId: number): Session | undefined {
    return this.#byUser.get(userId);
  }

  sessions(): IterableIterator<Session> {
    return this.#sessions.values();
  }

  users(): IterableIterator<[number, Session]> {
    return this.#byUser.entries();
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
    const body = encodeMessage(frame);
    const tcpFrame = encodeLengthPrefixed(body);
    const cmd = frame.cmd ?? 0;
    const written: Session[] = [];
    for (const [userId, session] of this.#byUser) {
      if (!exclude.has(userId) && session.writeEncoded(cmd, tcpFrame, body)) written.push(session);
    }
    return written;
  }
}
