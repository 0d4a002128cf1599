/**
 * Ends the run with one plain line, `Tests: N passed, N failed, N skipped`, that any CI log reader
 * understands (vitest's own summary is colored and shaped differently). A run that failed without a
 * failed test (a global setup that threw, an interrupted run) counts as one failure and says so: it
 * must never read as "0 passed, 0 failed".
 */
import type { Reporter, TestModule, TestRunEndReason } from 'vitest/node';

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>, reason: TestRunEndReason): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else skipped++;
      }
      // A file that failed to load has no tests but must count as a failure.
      if (module.state() === 'failed' && [...module.children.allTests()].every((t) => t.result().state !== 'failed')) failed++;
    }
    failed += unhandledErrors.length;
    if (reason !== 'passed' && failed === 0) {
      failed = 1;
      const why = reason === 'interrupted' ? 'the run was interrupted' : 'the run failed outside any test (e.g. a global setup threw)';
      process.stdout.write(`\nFAILED: ${why}; see the errors above\n`);
    }
    process.stdout.write(`\nTests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
