/**
 * Reading back what a Lua script stored as `{"seq":N, ...message}` (inbox and history entries): never throws on
 * stored bytes, since a member written by an older version or by hand must not break a whole read.
 */
export function parseSeqEntry<M extends object>(json: string, normalize: (message: M) => M): (M & { seq: number }) | undefined {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const { seq, ...message } = v as { seq?: unknown };
  if (!Number.isSafeInteger(seq) || (seq as number) <= 0) return undefined;
  try {
    return { seq: seq as number, ...normalize(message as M) };
  } catch {
    return undefined;
  }
}
