/** What every store contract suite gets from a backend: the store, its time, and its teardown. */
export interface StoreFixture<S> {
  store: S;
  /**
   * lets `ms` of the store's time pass: a manual clock, or real waiting for Redis, which expires keys
   * on its own clock (and a little late: suites poll for an expiry rather than expecting it at once).
   */
  advance(ms: number): Promise<void>;
  close(): Promise<void>;
}

/** Runs `fn` on a fresh fixture and always closes it. */
export const withFixture =
  <S>(create: () => Promise<StoreFixture<S>>, fn: (f: StoreFixture<S>) => Promise<void>) =>
  async (): Promise<void> => {
    const f = await create();
    try {
      await fn(f);
    } finally {
      await f.close();
    }
  };
