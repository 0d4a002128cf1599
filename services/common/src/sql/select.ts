/**
 * `--offline-store redis|postgres` (CIM's `offline.store.mode`): with postgres, the inbox and the history live
 * in PostgreSQL (`--postgres-url`), everything else stays in Redis. Opening it migrates the schema first (many
 * replicas at once migrate once, migrate.ts) and starts a sweep of expired inboxes and conversations.
 */
import type { Clock } from '../clock.ts';
import { systemClock } from '../clock.ts';
import { SqlHistoryStore } from '../history/sql.ts';
import { SqlInboxStore } from '../inbox/sql.ts';
import type { Logger } from '../log.ts';
import { migrate } from './migrate.ts';

export const OFFLINE_STORES = ['redis', 'postgres'] as const;

export interface OfflineStoreConfig {
  readonly offlineStore: string;
  readonly postgresUrl?: string | undefined;
}

export interface SqlStores {
  readonly inbox: SqlInboxStore;
  readonly history: SqlHistoryStore;
  /** Stops the sweep and closes the pool. */
  close(): Promise<void>;
}

/** Expired rows are deleted this often (reads already treat them as absent). */
const SWEEP_MS = 60_000;

/** The SQL stores for `--offline-store postgres`, else undefined (Redis); throws when the database cannot be migrated. */
export async function sqlStoresOf(config: OfflineStoreConfig, log: Logger, clock: Clock = systemClock): Promise<SqlStores | undefined> {
  if (config.offlineStore === 'redis') return undefined;
  if (config.offlineStore !== 'postgres') throw new RangeError(`--offline-store: "${config.offlineStore}" is not one of ${OFFLINE_STORES.join(', ')}`);
  if (!config.postgresUrl) throw new RangeError('--offline-store postgres needs --postgres-url');
  // Loaded only here: `pg` is about 10 MiB of memory a Redis-only deployment never needs.
  const { createPool } = await import('./pool.ts');
  const pool = createPool(config.postgresUrl, { onError: (err) => log.warn({ err: err.message }, 'postgres connection error') });
  try {
    const applied = await migrate(pool);
    if (applied.length > 0) log.info({ applied }, 'postgres schema migrated');
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  const inbox = new SqlInboxStore(pool, clock);
  const history = new SqlHistoryStore(pool, clock);
  const timer = setInterval(() => {
    Promise.all([inbox.sweep(), history.sweep()]).catch((err: unknown) => log.warn({ err: (err as Error).message }, 'postgres sweep of expired rows failed'));
  }, SWEEP_MS);
  timer.unref();
  return {
    inbox,
    history,
    async close() {
      clearInterval(timer);
      await pool.end();
    },
  };
}
