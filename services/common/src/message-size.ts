/**
 * The one maximum message size, counted the same way on every path (route /p2pRoute and /groupRoute,
 * in-band MESSAGE): bytes of the text's UTF-8 encoding. One check, one reason text everywhere.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 2 * 1024 * 1024;

/** Room for everything in a MESSAGE frame but its text (ids, properties, protobuf tags and lengths). */
export const FRAME_OVERHEAD_BYTES = 64 * 1024;

/** The reason of the 3000 (VALIDATION_FAIL) answer to an oversized text, or undefined when it fits. */
export function messageTooLarge(text: string, maxBytes: number): string | undefined {
  // A UTF-16 unit is at most 3 UTF-8 bytes: skip the count when the text cannot exceed the max.
  if (text.length * 3 <= maxBytes) return undefined;
  return Buffer.byteLength(text, 'utf8') > maxBytes ? `message is larger than ${maxBytes} bytes` : undefined;
}
