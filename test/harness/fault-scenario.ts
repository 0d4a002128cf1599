/**
 * One fault case: users chatting at a steady rate, the fault, recovery, then the counts. The caller asserts;
 * this returns the numbers (and prints them, so a CI log shows them for every case).
 */
import { expect } from 'vitest';
import { waitUntil } from '../../services/common/src/infra/ports.ts';
import { allReady, connectUsers, Ledger, startTraffic, type LedgerCounts, type TrafficUser } from './traffic.ts';

export interface FaultResult extends LedgerCounts {
  readonly fault: string;
  readonly unknownShown: number;
  /** from the start of the fault to every client ready again */
  readonly recoveryMs: number;
}

export interface FaultScenario {
  readonly name: string;
  readonly routeUrl: string;
  readonly users?: number;
  readonly ratePerSecond?: number;
  /** every client must be ready again this long after the fault started */
  readonly recoveryBoundMs: number;
  /** does the damage and, where a supervisor would, the restart; resolves when done */
  readonly fault: (users: readonly TrafficUser[]) => Promise<void>;
}

export async function runFaultScenario(s: FaultScenario): Promise<FaultResult> {
  const ledger = new Ledger();
  const users = await connectUsers({ routeUrl: s.routeUrl, users: s.users ?? 8, prefix: s.name, ledger });
  const traffic = startTraffic(users, ledger, s.ratePerSecond ?? 100, s.name);
  const ackedAtLeast = (n: number) => waitUntil(`${n} acknowledged messages`, () => (ledger.counts().acked >= n ? true : undefined), 30_000, 20);
  try {
    await ackedAtLeast(50); // traffic flows before the fault
    const started = Date.now();
    await s.fault(users);
    await allReady(users, s.recoveryBoundMs);
    const recoveryMs = Date.now() - started;
    // and flows again after it: 60 more, so every case sends over the 100 expectNothingLost asks for even when
    // nothing is in flight at the stop (a Redis restart can recover within milliseconds)
    await ackedAtLeast(ledger.counts().acked + 60);
    await traffic.stop();
    await ledger.settled(traffic.inFlight, 90_000);
    const result: FaultResult = { fault: s.name, ...ledger.counts(), unknownShown: ledger.unknownShown, recoveryMs };
    console.log(`fault-counts ${JSON.stringify(result)}`);
    return result;
  } finally {
    await traffic.stop();
    await Promise.all(users.map((u) => u.client.close()));
  }
}

/**
 * The promise of the acknowledged path: every send acknowledged (the SDK retried what failed), every
 * acknowledged message shown to its receiver, none shown twice, nothing shown that was never sent.
 */
export function expectNothingLost(r: FaultResult): void {
  expect(r.sent).toBeGreaterThan(100);
  expect(r.unknownShown).toBe(0);
  expect(r.failed).toBe(0);
  expect(r.acked).toBe(r.sent);
  expect(r.lost).toBe(0);
  expect(r.delivered).toBe(r.sent);
  expect(r.shownTwice).toBe(0);
}
