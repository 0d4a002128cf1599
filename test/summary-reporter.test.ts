import { describe, expect, it } from 'vitest';
import { failureSummary } from './summary-reporter.ts';

describe('failureSummary', () => {
  it("names each failed test with its error's first and last lines, uncolored", () => {
    const output = Array.from({ length: 15 }, (_, i) => `line ${i + 1}`);
    const lines = failureSummary([{ name: 'journey.test.ts > Redis', message: `\u001b[31mcim chat of alice exited (1):\u001b[39m\n${output.join('\n')}\ncim chat: login failed: 5000` }]);
    expect(lines).toEqual(['FAILED: journey.test.ts > Redis', '  cim chat of alice exited (1):', '  …', ...output.slice(-7).map((l) => `  ${l}`), '  cim chat: login failed: 5000']);
  });

  it('keeps a short message whole, cuts long lines, and lists at most three failures', () => {
    const failures = Array.from({ length: 5 }, (_, i) => ({ name: `t${i}`, message: i === 0 ? 'x'.repeat(250) : `expected ${i}` }));
    const lines = failureSummary(failures);
    expect(lines[1]).toBe(`  ${'x'.repeat(200)}…`);
    expect(lines.slice(2)).toEqual(['FAILED: t1', '  expected 1', 'FAILED: t2', '  expected 2', 'FAILED: and 2 more (above)']);
    expect(failureSummary([])).toEqual([]);
  });
});
