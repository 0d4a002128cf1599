import { describe, expect, it } from 'vitest';
import { createLogger } from '../log.ts';
import { MIGRATIONS } from './migrations.ts';
import { createPool } from './pool.ts';
import { sqlStoresOf } from './select.ts';

const log = createLogger('test', 'silent');

describe('--offline-store selection', () => {
  it('leaves the inbox and history to Redis by default', async () => {
    expect(await sqlStoresOf({ offlineStore: 'redis', postgresUrl: 'postgres://ignored' }, log)).toBeUndefined();
  });

  it('refuses postgres without a usable --postgres-url before connecting anywhere', async () => {
    await expect(sqlStoresOf({ offlineStore: 'postgres' }, log)).rejects.toThrow('--offline-store postgres needs --postgres-url');
    await expect(sqlStoresOf({ offlineStore: 'postgres', postgresUrl: 'not a url' }, log)).rejects.toThrow(/not a URL/);
    await expect(sqlStoresOf({ offlineStore: 'postgres', postgresUrl: 'mysql://h/db' }, log)).rejects.toThrow(/scheme mysql: is not postgres:/);
    await expect(sqlStoresOf({ offlineStore: 'mysql' }, log)).rejects.toThrow(/not one of redis, postgres/);
  });

  it('accepts postgres:// and postgresql:// URLs (a pool connects lazily)', async () => {
    for (const url of ['postgres://u:p@db.example:5432/cim', 'postgresql://db.example/cim?sslmode=require']) await createPool(url).end();
    expect(() => createPool('postgres:///cim')).toThrow(/no host/);
  });

  it('numbers the migrations 1, 2, ... in order, each with a name', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    for (const m of MIGRATIONS) expect(m.name).toMatch(/^[a-z-]+$/);
  });
});
