/**
 * Steady private-message traffic between SDK clients, with a ledger that counts every message: sent,
 * acknowledged (SENT), failed (the send rejected), delivered (shown to the receiver's application) and shown
 * twice. Fault tests run it across a fault and assert on the counts.
 */
import { createClient, type ChatMessage, type CimClient, type ClientState } from '../../services/client/src/index.ts';
import { waitUntil } from '../../services/common/src/infra/ports.ts';

export interface LedgerEntry {
  readonly text: string;
  readonly from: number;
  readonly to: number;
  acked: boolean;
  failed: string | undefined;
  /** how many times the receiver's application was shown it */
  shown: number;
}

export interface LedgerCounts {
  readonly sent: number;
  readonly acked: number;
  readonly failed: number;
  readonly delivered: number;
  /** acknowledged to the sender but never shown to the receiver */
  readonly lost: number;
  readonly shownTwice: number;
  /** shown although the sender was told it failed (allowed: "failed" is not a promise of absence) */
  readonly deliveredAfterFailure: number;
}

export class Ledger {
  readonly #entries = new Map<string, LedgerEntry>();
  /** messages shown that were never sent by the test (must stay 0) */
  unknownShown = 0;

  sent(text: string, from: number, to: number): LedgerEntry {
    const entry: LedgerEntry = { text, from, to, acked: false, failed: undefined, shown: 0 };
    this.#entries.set(text, entry);
    return entry;
  }

  shown(message: ChatMessage, receiver: number): void {
    const entry = this.#entries.get(message.text);
    if (!entry || entry.to !== receiver) {
      this.unknownShown++;
      return;
    }
    entry.shown++;
  }

  entries(): LedgerEntry[] {
    return [...this.#entries.values()];
  }

  counts(): LedgerCounts {
    const all = this.entries();
    return {
      sent: all.length,
      acked: all.filter((e) => e.acked).length,
      failed: all.filter((e) => e.failed !== undefined).length,
      delivered: all.filter((e) => e.shown > 0).length,
      lost: all.filter((e) => e.acked && e.shown === 0).length,
      shownTwice: all.filter((e) => e.shown > 1).length,
      deliveredAfterFailure: all.filter((e) => e.failed !== undefined && e.shown > 0).length,
    };
  }

  /** Resolves once every send has settled and every acknowledged message was shown (or times out). */
  async settled(pending: () => number, timeoutMs: number): Promise<void> {
    await waitUntil(
      'every send to settle and every acknowledged message to be shown',
      () => (pending() === 0 && this.entries().every((e) => !e.acked || e.shown > 0) ? true : undefined),
      timeoutMs,
      100,
    ).catch((err: unknown) => {
      // The counts are the useful part of the failure.
      throw new Error(`${(err as Error).message}; counts ${JSON.stringify(this.counts())}, in flight ${pending()}`);
    });
  }
}

export interface TrafficUser {
  readonly client: CimClient;
  readonly userId: number;
  readonly states: ClientState[];
}

export interface TrafficOptions {
  readonly routeUrl: string;
  /** users; even indexes use WebSocket, odd ones TCP */
  readonly users: number;
  readonly prefix: string;
  readonly ledger: Ledger;
  readonly sendTimeoutMs?: number;
}

/** Connects `users` SDK clients (both transports) whose received messages go into the ledger. */
export async function connectUsers(o: TrafficOptions): Promise<TrafficUser[]> {
  const users: TrafficUser[] = [];
  for (let i = 0; i < o.users; i++) {
    const states: ClientState[] = [];
    let userId = 0;
    const client = await createClient({
      routeUrl: o.routeUrl,
      userName: `${o.prefix}-${i}`,
      transport: i % 2 === 0 ? 'ws' : 'tcp',
      // Fast backoff: a test waits for recovery, a fleet would spread out more.
      backoff: { initialDelayMs: 100, maxDelayMs: 1_000 },
      sendTimeoutMs: o.sendTimeoutMs ?? 60_000,
      requestTimeoutMs: 3_000,
      heartbeatIntervalMs: 2_000,
      pongTimeoutMs: 2_000,
      syncIntervalMs: 5_000,
      onMessage: (m) => o.ledger.shown(m, userId),
    });
    userId = client.userId!;
    client.on('state', (s) => states.push(s.to));
    users.push({ client, userId, states });
  }
  return users;
}

/**
 * Sends uniquely numbered private messages round the ring of users at `ratePerSecond` in total until
 * stop() is called. Every send is recorded in the ledger with its outcome.
 */
export function startTraffic(users: readonly TrafficUser[], ledger: Ledger, ratePerSecond: number, tag: string): { stop(): Promise<void>; inFlight(): number } {
  let n = 0;
  let inFlight = 0;
  const intervalMs = 1000 / ratePerSecond;
  const started = performance.now();
  let stopped = false;
  const tick = (): void => {
    if (stopped) return;
    const due = Math.floor((performance.now() - started) / intervalMs);
    while (n < due) {
      const i = n % users.length;
      const from = users[i]!;
      const to = users[(i + 1) % users.length]!;
      const entry = ledger.sent(`${tag}#${n}`, from.userId, to.userId);
      n++;
      inFlight++;
      from.client
        .sendPrivate(to.userId, entry.text)
        .then(() => (entry.acked = true))
        .catch((err: unknown) => (entry.failed = (err as { code?: string }).code ?? String(err)))
        .finally(() => inFlight--);
    }
    timer = setTimeout(tick, intervalMs);
  };
  let timer = setTimeout(tick, 0);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
    },
    inFlight: () => inFlight,
  };
}

/** Every user back in state ready, within `timeoutMs`. */
export async function allReady(users: readonly TrafficUser[], timeoutMs: number): Promise<void> {
  await waitUntil(
    'every client to be ready again',
    () => (users.every((u) => u.client.state === 'ready') ? true : undefined),
    timeoutMs,
    50,
  );
}
