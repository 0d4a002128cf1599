/**
 * This installation's device id (--login-policy multi), kept beside the user's history so every run of
 * `cim chat` on this machine is the same device: its own inbox survives restarts. Made on first use.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const DEVICE_FILE = 'device';
const DEVICE = /^[A-Za-z0-9_-]{1,64}$/;

/** @throws when the file exists but does not hold a device id, or cannot be written */
export function deviceIdOf(dir: string): string {
  const path = join(dir, DEVICE_FILE);
  let stored: string | undefined;
  try {
    stored = readFileSync(path, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${path}: ${(err as Error).message}`);
  }
  if (stored !== undefined) {
    if (!DEVICE.test(stored)) throw new Error(`${path} does not hold a device id ([A-Za-z0-9_-]{1,64}); remove it or pass --device`);
    return stored;
  }
  const id = randomUUID();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // 'wx': two first runs at once keep the first id written.
  try {
    writeFileSync(path, `${id}\n`, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return deviceIdOf(dir);
    throw new Error(`${path}: ${(err as Error).message}`);
  }
  return id;
}
