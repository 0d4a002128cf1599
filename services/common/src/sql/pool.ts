/** The PostgreSQL connection pool of the SQL backend (`--postgres-url`), on node-postgres (`pg`). */
import pg from 'pg';

export type SqlPool = pg.Pool;

export interface PoolOptions {
  /** most connections this process opens (default 10) */
  readonly max?: number;
  /** an idle connection broke (server restart, network): logged by the caller, the pool replaces it */
  readonly onError?: (err: Error) => void;
}

/**
 * A pool from a postgres:// (or postgresql://) URL; credentials in the URL or PGPASSWORD/PGUSER, TLS by
 * `?sslmode=`. Checked here, so a typo in --postgres-url fails at start with a clear message.
 */
export function createPool(url: string, o: PoolOptions = {}): SqlPool {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RangeError('--postgres-url: not a URL (postgres://user:password@host:5432/database)');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') throw new RangeError(`--postgres-url: scheme ${parsed.protocol} is not postgres:`);
  if (parsed.hostname === '') throw new RangeError('--postgres-url: no host');
  // allowExitOnIdle: idle connections do not keep a process alive that is exiting for another reason.
  const pool = new pg.Pool({ connectionString: url, max: o.max ?? 10, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000, application_name: 'cim', allowExitOnIdle: true });
  // Without a listener, an error on an idle connection would crash the process.
  pool.on('error', (err) => o.onError?.(err));
  return pool;
}
