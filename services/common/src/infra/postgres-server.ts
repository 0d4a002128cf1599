/**
 * A throwaway PostgreSQL for tests (the SQL inbox/history backend, services/common/src/sql): initdb into a temp
 * dir, listening on 127.0.0.1 on a free port with its unix socket in that dir, fsync off, removed on stop.
 * Uses Debian's `postgresql` package (scripts/ensure-system-deps.sh). PostgreSQL refuses to run as root: as root,
 * initdb and postgres run as the package's `postgres` user (setpriv execs in place, so the pid we hold is the
 * postmaster itself and a signal reaches it directly).
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { startProcess, type ManagedProcess } from './child.ts';
import { freePort } from './ports.ts';
import { waitFor, WaitAborted } from './wait.ts';

const run = promisify(execFile);

export interface PostgresInstance {
  /** postgres://cim@127.0.0.1:<port>/postgres (trust authentication: a private, loopback-only server) */
  readonly url: string;
  readonly port: number;
  readonly process: ManagedProcess;
  /** Creates an empty database and returns its URL (tests that need a schema of their own). */
  createDatabase(name: string): Promise<string>;
  /** Stops the server (fast shutdown: open sessions are ended) and removes its data. */
  stop(): Promise<void>;
}

export interface PostgresServerOptions {
  /** directory of initdb and postgres; default: $CIM_POSTGRES_BIN, else the newest /usr/lib/postgresql/<ver>/bin */
  readonly binDir?: string;
}

const DB_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export async function startPostgresServer(o: PostgresServerOptions = {}): Promise<PostgresInstance> {
  const bin = o.binDir ?? process.env['CIM_POSTGRES_BIN'] ?? newestBinDir();
  const dir = await mkdtemp(join(tmpdir(), 'cim-postgres-'));
  try {
    const as = runAs();
    if (as.owner) await chown(dir, as.owner.uid, as.owner.gid);
    const data = join(dir, 'data');
    await run(...as.wrap(join(bin, 'initdb'), ['-D', data, '-U', 'cim', '--auth=trust', '--no-sync', '-E', 'UTF8', '--no-locale', '--no-instructions']));
    const port = await freePort();
    const settings = ['listen_addresses=127.0.0.1', `unix_socket_directories=${dir}`, 'fsync=off', 'synchronous_commit=off', 'full_page_writes=off', 'max_connections=200', 'log_min_messages=warning'];
    const proc = startProcess('postgres', ...as.wrap(join(bin, 'postgres'), ['-D', data, '-p', String(port), ...settings.flatMap((s) => ['-c', s])]));
    const url = `postgres://cim@127.0.0.1:${port}/postgres`;
    try {
      await waitForQuery(url, proc);
    } catch (err) {
      await proc.stop('SIGINT');
      throw err;
    }
    return {
      url,
      port,
      process: proc,
      async createDatabase(name) {
        if (!DB_NAME.test(name)) throw new RangeError(`bad database name ${name}`);
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          await client.query(`CREATE DATABASE ${name}`);
        } finally {
          await client.end();
        }
        return `postgres://cim@127.0.0.1:${port}/${name}`;
      },
      async stop() {
        // SIGINT is PostgreSQL's fast shutdown; SIGTERM ("smart") would wait for every pool to disconnect.
        await proc.stop('SIGINT', 10_000);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** As root: the `postgres` user's ids and a command wrapper that runs as it; else ourselves, unwrapped. */
interface RunAs {
  /** set when the data dir must be handed over to another user */
  readonly owner?: { readonly uid: number; readonly gid: number };
  wrap(cmd: string, args: string[]): [string, string[]];
}

function runAs(): RunAs {
  if (process.getuid?.() !== 0) return { wrap: (cmd, args) => [cmd, args] };
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error('PostgreSQL refuses to run as root and there is no `postgres` user (install the postgresql package)');
  return { owner: { uid: Number(uid), gid: Number(gid) }, wrap: (cmd, args) => ['setpriv', ['--reuid', uid, '--regid', gid, '--init-groups', '--', cmd, ...args]] };
}

function newestBinDir(): string {
  const root = '/usr/lib/postgresql';
  let versions: string[];
  try {
    versions = readdirSync(root).filter((v) => /^\d+$/.test(v));
  } catch {
    versions = [];
  }
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error(`no PostgreSQL under ${root}: run scripts/ensure-system-deps.sh (Debian package postgresql)`);
  return join(root, newest, 'bin');
}

async function waitForQuery(url: string, proc: ManagedProcess): Promise<void> {
  await waitFor(
    `postgres at ${url}`,
    async () => {
      if (proc.exitStatus() !== undefined) throw new WaitAborted(`postgres exited: ${proc.output()}`);
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.query('SELECT 1');
        return true;
      } catch {
        return undefined; // not listening yet, or still starting up ("the database system is starting up")
      } finally {
        await client.end().catch(() => undefined);
      }
    },
    { timeoutMs: 30_000, intervalMs: 25, describe: () => proc.output(20) },
  );
}
