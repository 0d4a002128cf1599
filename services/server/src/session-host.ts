/** What a transport needs from the server core: no more, so transports do not depend on ServerNode. */
import type { CloseReason, Session, TransportPort } from './session.ts';

export interface SessionHost {
  /** A new connection. */
  open(transport: TransportPort): Session;
  /** One frame (protobuf body) from the client. Never throws: bad input closes that one connection. */
  frame(session: Session, body: Uint8Array): void;
  /** The connection ended, whoever closed it. */
  closed(session: Session): void;
  /** Closes a connection because of what it sent (framing errors the transport detected). */
  reject(session: Session, reason: CloseReason, detail: string): void;
}
