/**
 * Applies the numbered migrations (migrations.ts) that a database has not had yet, in order, each in its own
 * transaction and recorded in cim_schema_migrations. The whole run holds a session advisory lock, so any number
 * of route and server replicas starting at once migrate exactly once: the first does the work, the others wait
 * and then find nothing left to do. A replica that dies mid-run loses its session and with it the lock.
 */
import type { SqlPool } from './pool.ts';
import { MIGRATIONS, type Migration } from './migrations.ts';

/** pg_advisory_lock key of the migration run ('CIMMIGRA' as a number: no other user of this database takes it). */
const LOCK_KEY = '4848845417170913601';

const LEDGER = `CREATE TABLE IF NOT EXISTS cim_schema_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

/** Returns the versions this call applied ([] when the schema was current). */
export async function migrate(pool: SqlPool, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  checkOrder(migrations);
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_KEY]);
    try {
      // Under the lock: CREATE TABLE IF NOT EXISTS is not safe against a concurrent one.
      await client.query(LEDGER);
      const { rows } = await client.query<{ version: number; name: string }>('SELECT version, name FROM cim_schema_migrations');
      const done = new Map(rows.map((r) => [r.version, r.name]));
      const applied: number[] = [];
      for (const m of migrations) {
        const had = done.get(m.version);
        if (had !== undefined) {
          if (had !== m.name) throw new Error(`migration ${m.version} is "${had}" in the database but "${m.name}" here: not this schema`);
          continue;
        }
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query('INSERT INTO cim_schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw new Error(`migration ${m.version} (${m.name}) failed: ${(err as Error).message}`, { cause: err });
        }
        applied.push(m.version);
      }
      return applied;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [LOCK_KEY]).catch((err: Error) => (broken = err));
    }
  } catch (err) {
    broken ??= err as Error;
    throw err;
  } finally {
    // A connection whose unlock (or anything) failed is closed rather than returned still holding the lock.
    client.release(broken);
  }
}

function checkOrder(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (!Number.isSafeInteger(m.version) || m.version <= 0 || (i > 0 && m.version <= migrations[i - 1]!.version)) throw new Error(`migrations out of order at ${m.version}`);
  });
}
