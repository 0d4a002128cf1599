/**
 * What `cim chat` shows of its own messages' fate: ✓ sent (render.ts SENT_MARK) (stored in the receiver's inbox), ✓✓ delivered
 * (the receiver's client got it), read (the receiver's chat displayed it). Remembers the recent private
 * sends so a receipt, which carries only a msgId, can name the message.
 */
import type { ReceiptEvent } from '../index.ts';
import { renderText } from './render.ts';

export const DELIVERED_MARK = '✓✓';

interface Sent {
  readonly peer: string;
  readonly text: string;
  delivered: boolean;
  read: boolean;
}

/** Longest text quoted in a receipt line. */
const QUOTE_CHARS = 40;

export class ReceiptView {
  readonly #sent = new Map<string, Sent>();
  readonly #limit: number;

  constructor(limit = 1_000) {
    this.#limit = limit;
  }

  /** A private message this chat sent (SENT). */
  noteSent(msgId: string, peer: string, text: string): void {
    this.#sent.set(msgId, { peer, text, delivered: false, read: false });
    if (this.#sent.size > this.#limit) this.#sent.delete(this.#sent.keys().next().value!);
  }

  /** The line to show for a receipt, or undefined when it says nothing new (a repeat, or not ours). */
  line(receipt: ReceiptEvent): string | undefined {
    if (receipt.sender !== undefined) return undefined; // read on another device of ours: nothing to show here
    const sent = this.#sent.get(receipt.msgId);
    if (!sent) return undefined;
    const quote = quoteOf(sent.text);
    if (receipt.status === 'delivered') {
      if (sent.delivered || sent.read) return undefined;
      sent.delivered = true;
      return `* ${DELIVERED_MARK} delivered to ${sent.peer}: ${quote}`;
    }
    if (sent.read) return undefined;
    sent.read = sent.delivered = true;
    return `* ${DELIVERED_MARK} read by ${sent.peer}: ${quote}`;
  }
}

/** One JSON line per receipt (--json). */
export function receiptJson(receipt: ReceiptEvent): string {
  return JSON.stringify({ type: 'receipt', msgId: receipt.msgId, to: receipt.to, status: receipt.status, ...(receipt.sender !== undefined ? { sender: receipt.sender } : {}) });
}

function quoteOf(text: string): string {
  const rendered = renderText(text).replace(/\s+/g, ' ');
  return `"${rendered.length > QUOTE_CHARS ? `${rendered.slice(0, QUOTE_CHARS - 1)}…` : rendered}"`;
}
