/**
 * client.contacts: the contact calls of the route (POST /contacts/*, docs/delivery.md "Contacts and presence"),
 * with this session's token, and the parsing of PRESENCE frames into the client's 'presence' event. Refusals
 * reject with ROUTE_REJECTED and the catalogue code in `serverCode` (7300 no such user, 3000 invalid or full).
 */
import { Prop, type CimFrame } from '../../../common/src/codec.ts';
import { ClientErrorCode, CimClientError } from './errors.ts';

export interface ContactInfo {
  readonly userId: number;
  readonly userName: string;
  /** online now (when listed) */
  readonly online: boolean;
}

/** A contact went online or offline (pushed by the server, live, best effort). */
export interface PresenceEvent {
  readonly userId: number;
  readonly userName: string;
  readonly online: boolean;
  /** when the server saw the change (ms since epoch) */
  readonly at: number;
}

/** The route call: path and payload; userId and token are added by the session. */
export type ContactCall = (path: string, payload: Record<string, unknown>) => Promise<unknown>;

export class Contacts {
  readonly #call: ContactCall;

  constructor(call: ContactCall) {
    this.#call = call;
  }

  /** Adds a contact; resolves with true when it was not one yet. */
  async add(userId: number): Promise<boolean> {
    return changed(await this.#call('contacts/add', { contactId: checkId(userId) }));
  }

  /** Removes a contact; resolves with true when it was one. */
  async remove(userId: number): Promise<boolean> {
    return changed(await this.#call('contacts/remove', { contactId: checkId(userId) }));
  }

  /** This user's contacts, each with its name and whether it is online now. */
  async list(): Promise<ContactInfo[]> {
    const data = await this.#call('contacts/list', {});
    const list = typeof data === 'object' && data !== null ? (data as { contacts?: unknown }).contacts : undefined;
    if (!Array.isArray(list)) throw malformed('contacts is not an array');
    return list.map((c: unknown): ContactInfo => {
      const o = typeof c === 'object' && c !== null ? (c as Record<string, unknown>) : {};
      const userId = o['userId'];
      if (typeof userId !== 'number' || !Number.isSafeInteger(userId) || userId <= 0) throw malformed('expected a positive id');
      return { userId, userName: typeof o['userName'] === 'string' ? o['userName'] : '', online: o['online'] === true };
    });
  }

  /** Reads, or sets, whether only contacts may send this user private messages (others get 7360). */
  async onlyContacts(value?: boolean): Promise<boolean> {
    const data = await this.#call('contacts/settings', value === undefined ? {} : { onlyContacts: value === true });
    return typeof data === 'object' && data !== null && (data as { onlyContacts?: unknown }).onlyContacts === true;
  }
}

/** A PRESENCE frame as an event; undefined when malformed (ignored, never thrown: a server's bytes). */
export function parsePresence(frame: CimFrame): PresenceEvent | undefined {
  const p = frame.properties;
  const userId = Number(p[Prop.sendUserId]);
  const online = p[Prop.online];
  if (!Number.isSafeInteger(userId) || userId <= 0 || (online !== '1' && online !== '0')) return undefined;
  const at = Number(p[Prop.sentAt]);
  return { userId, userName: p[Prop.sendUserName] ?? '', online: online === '1', at: Number.isSafeInteger(at) && at > 0 ? at : 0 };
}

const changed = (value: unknown): boolean => typeof value === 'object' && value !== null && (value as { changed?: unknown }).changed === true;

function checkId(id: number): number {
  if (!Number.isSafeInteger(id) || id <= 0) throw new CimClientError(ClientErrorCode.INVALID_ARGUMENT, `expected a positive user id, got ${String(id)}`);
  return id;
}

const malformed = (detail: string) => new CimClientError(ClientErrorCode.ROUTE_UNAVAILABLE, `route answer of contacts is malformed: ${detail}`);
