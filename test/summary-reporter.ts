/**
 * Ends the run with one plain line, `Tests: N passed, N failed, N skipped`, that any CI log reader
 * understands (vitest's own summary is colored and shaped differently). A run that failed without a
 * failed test (a global setup that threw, an interrupted run) counts as one failure and says so: it
 * must never read as "0 passed, 0 failed".
 *
 * Just above that line it names each failed test with the end of its error, uncolored: a CI log is
 * often kept only by its last lines, and vitest's report of a failure ends with a stack, not its cause
 * (the journey's errors end with the last lines a `cim chat` printed).
 */
import { stripVTControlCharacters } from 'node:util';
import type { Reporter, TestModule, TestRunEndReason } from 'vitest/node';

interface Failure {
  readonly name: string;
  readonly message: string;
}

/** Failures listed at most, and lines of each error's message (its first and its last ones). */
const MAX_LISTED = 3;
const MAX_MESSAGE_LINES = 8;
const MAX_LINE_CHARS = 200;

export function failureSummary(failures: readonly Failure[]): string[] {
  const lines: string[] = [];
  for (const f of failures.slice(0, MAX_LISTED)) {
    const message = stripVTControlCharacters(f.message)
      .split('\n')
      .map((l) => l.trimEnd())
      .filter((l) => l !== '');
    const shown = message.length <= MAX_MESSAGE_LINES + 1 ? message : [message[0]!, '…', ...message.slice(-MAX_MESSAGE_LINES)];
    lines.push(`FAILED: ${f.name}`, ...shown.map((l) => `  ${l.length > MAX_LINE_CHARS ? `${l.slice(0, MAX_LINE_CHARS)}…` : l}`));
  }
  if (failures.length > MAX_LISTED) lines.push(`FAILED: and ${failures.length - MAX_LISTED} more (above)`);
  return lines;
}

const messageOf = (err: unknown): string => (typeof err === 'object' && err !== null && 'message' in err ? String(err.message) : String(err));

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>, reason: TestRunEndReason): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const failures: Failure[] = [];
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const result = test.result();
        if (result.state === 'passed') passed++;
        else if (result.state === 'failed') {
          failed++;
          failures.push({ name: `${module.relativeModuleId} > ${test.fullName}`, message: messageOf(result.errors[0]) });
        } else skipped++;
      }
      // A file that failed to load has no tests but must count as a failure.
      if (module.state() === 'failed' && [...module.children.allTests()].every((t) => t.result().state !== 'failed')) {
        failed++;
        failures.push({ name: module.relativeModuleId, message: messageOf(module.errors()[0] ?? 'the file failed outside its tests') });
      }
    }
    failed += unhandledErrors.length;
    for (const err of unhandledErrors) failures.push({ name: 'unhandled error', message: messageOf(err) });
    if (reason !== 'passed' && failed === 0) {
      failed = 1;
      const why = reason === 'interrupted' ? 'the run was interrupted' : 'the run failed outside any test (e.g. a global setup threw)';
      process.stdout.write(`\nFAILED: ${why}; see the errors above\n`);
    }
    const summary = failureSummary(failures);
    if (summary.length > 0) process.stdout.write(`\n${summary.join('\n')}\n`);
    process.stdout.write(`\nTests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
