/** docs/codes.md and the catalogue stay equal in both directions (a code added to one must be added to the other). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CloseCodes, Codes, closeCode, isRetryableCode, shouldReconnect } from './codes.ts';

const DOC = readFileSync(fileURLToPath(new URL('../../../docs/codes.md', import.meta.url)), 'utf8');

/** Rows `| code | \`name\` | text | meaning | yes/no |` of the table under `## heading`. */
function tableRows(heading: string): string[] {
  const section = DOC.split(/^## /m).find((s) => s.startsWith(heading));
  if (!section) throw new Error(`docs/codes.md has no section "${heading}"`);
  return section
    .split('\n')
    .map((line) => /^\| (\d+) \| `([\w-]+)` \| (.+?) \| .+ \| (yes|no) \|$/.exec(line))
    .filter((m) => m !== null)
    .map((m) => `${m[1]} ${m[2]} ${m[3]} ${m[4]}`);
}

const yesNo = (b: boolean) => (b ? 'yes' : 'no');

describe('docs/codes.md', () => {
  it('lists exactly the status codes of the catalogue, with their messages and retryability', () => {
    const catalogue = Object.entries(Codes).map(([name, c]) => `${c.code} ${name} ${c.message.replaceAll('|', '/')} ${yesNo(c.retryable)}`);
    expect(tableRows('Status codes').sort()).toEqual(catalogue.sort());
  });

  it('lists exactly the close codes of the catalogue, with their reasons and reconnect advice', () => {
    const catalogue = Object.entries(CloseCodes).map(([name, c]) => `${c.code} ${name} ${c.reason} ${yesNo(c.reconnect)}`);
    expect(tableRows('Close codes').sort()).toEqual(catalogue.sort());
  });
});

describe('catalogue', () => {
  it('has distinct code numbers', () => {
    expect(new Set(Object.values(Codes).map((c) => c.code)).size).toBe(Object.keys(Codes).length);
    expect(new Set(Object.values(CloseCodes).map((c) => c.code)).size).toBe(Object.keys(CloseCodes).length);
  });

  it('keeps the reconnect ranges: 4000-4099 reconnect, 4100-4199 terminal, dropped sockets reconnect', () => {
    for (const c of Object.values(CloseCodes)) {
      if (c.code >= 4000 && c.code < 4100) expect(c.reconnect, String(c.code)).toBe(true);
      if (c.code >= 4100 && c.code < 4200) expect(c.reconnect, String(c.code)).toBe(false);
    }
    expect([shouldReconnect(4050), shouldReconnect(4150), shouldReconnect(1006), shouldReconnect(4100)]).toEqual([true, false, true, false]);
    expect(closeCode(4100)?.reason).toBe(CloseCodes.replaced.reason);
    expect([isRetryableCode('7200'), isRetryableCode('7300'), isRetryableCode('nope')]).toEqual([true, false, false]);
  });
});
