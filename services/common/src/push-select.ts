/** Which PushTransport a component pushes to servers with (--push-transport). */
import { LinkPushTransport, type LinkPushOptions } from './push-link.ts';
import { HttpPushTransport, type PushTransport } from './push.ts';

export const PUSH_TRANSPORTS = ['link', 'http'] as const;

export function pushTransportOf(kind: string, options: LinkPushOptions): PushTransport {
  return kind === 'http' ? new HttpPushTransport(options) : new LinkPushTransport(options);
}
