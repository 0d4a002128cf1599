/** `{"seq":N,` spliced into the stored `{...}`, the form the shared parser reads (entry.ts, stored-entry.ts). */
export const withSeq = (seq: string, body: string): string => (body.startsWith('{') && body !== '{}' ? `{"seq":${Number(seq)},${body.slice(1)}` : '');
