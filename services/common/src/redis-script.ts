/**
 * A Lua script run with EVALSHA, and with EVAL when the server does not know it yet (a new, restarted or
 * failed-over Redis answers NOSCRIPT; nothing ran then, so running it again is safe).
 *
 * Why not ioredis' defineCommand: ioredis copies every defined command onto each Pipeline it creates (each
 * `multi()`, and with auto-pipelining one per event-loop turn). With our scripts defined on the shared client
 * each of those Pipelines was a dictionary-mode object of about 2 KiB: with auto-pipelining on, at 1,000 private
 * messages/s a server made about 30 MiB of old-generation garbage every 6–7 s and paid a major GC (10–25 ms)
 * for each (docs/benchmarks.md, 2026-12-02 14:00). Scripts as values also give typed results without casting
 * the client.
 */
import { createHash } from 'node:crypto';
import type { RedisClient } from './redis-client.ts';

type Arg = string | number;

export class RedisScript<Result> {
  readonly lua: string;
  readonly sha: string;

  constructor(lua: string) {
    this.lua = lua;
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /** Runs the script with `keys` as KEYS and `args` as ARGV; its reply typed as `Result` (the caller's promise). */
  async run(redis: RedisClient, keys: readonly string[], args: readonly Arg[] = []): Promise<Result> {
    try {
      return (await redis.evalsha(this.sha, keys.length, ...keys, ...args)) as Result;
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return (await redis.eval(this.lua, keys.length, ...keys, ...args)) as Result;
    }
  }
}

const isNoScript = (err: unknown): boolean => err instanceof Error && err.message.startsWith('NOSCRIPT');
