/**
 * RedisScript on a real redis-server: EVALSHA, EVAL when Redis does not know the script (as after a restart or
 * a failover), other errors passed on; and the stores define no ioredis commands, so the Pipelines that
 * auto-pipelining makes every turn stay small (redis-script.ts says why).
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisAuthStore } from '../../services/common/src/auth-store-redis.ts';
import { RedisContactStore } from '../../services/common/src/contacts/redis.ts';
import { RedisGroupStore } from '../../services/common/src/groups/redis.ts';
import { RedisHistoryStore } from '../../services/common/src/history/redis.ts';
import { RedisInboxStore } from '../../services/common/src/inbox/redis.ts';
import { startRedisServer, type RedisInstance } from '../../services/common/src/infra/redis-server.ts';
import { RedisScript } from '../../services/common/src/redis-script.ts';
import { RedisRouteStore } from '../../services/common/src/route-store/redis.ts';

let redis: RedisInstance;
const clients: Redis[] = [];
beforeAll(async () => {
  redis = await startRedisServer();
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.quit();
});
afterAll(async () => {
  await redis?.stop();
});

function client(): Redis {
  const c = new Redis(redis.url, { enableAutoPipelining: true });
  clients.push(c);
  return c;
}

const INCR_BY = new RedisScript<number>("return redis.call('INCRBY', KEYS[1], ARGV[1])");

describe('RedisScript', () => {
  it('runs by its SHA once Redis has it, and loads it with EVAL when Redis answers NOSCRIPT', async () => {
    const c = client();
    await c.flushall();
    await c.script('FLUSH');
    expect(await c.script('EXISTS', INCR_BY.sha)).toEqual([0]);
    // First run: NOSCRIPT, then EVAL, which also loads it.
    expect(await INCR_BY.run(c, ['counter'], [2])).toBe(2);
    expect(await c.script('EXISTS', INCR_BY.sha)).toEqual([1]);
    expect(await INCR_BY.run(c, ['counter'], ['3'])).toBe(5);
    // Redis forgot its scripts (a restart, a failover): ten calls in one turn, each runs exactly once.
    await c.script('FLUSH');
    const results = await Promise.all(Array.from({ length: 10 }, () => INCR_BY.run(c, ['counter'], [1])));
    expect(results.sort((a, b) => a - b)).toEqual([6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    expect(await c.get('counter')).toBe('15');
  });

  it("passes on the script's own errors without running it again", async () => {
    const c = client();
    await c.flushall();
    const failing = new RedisScript<number>("redis.call('INCR', KEYS[1]); return redis.error_reply('refused by the script')");
    await expect(failing.run(c, ['tries'])).rejects.toThrow('refused by the script');
    expect(await c.get('tries')).toBe('1');
  });

  it('leaves the stores on a shared client without ioredis commands, so its Pipelines carry none', async () => {
    const c = client();
    const baseline = Object.keys(c.pipeline()).length;
    new RedisRouteStore(c);
    new RedisInboxStore(c);
    new RedisHistoryStore(c);
    new RedisContactStore(c);
    new RedisGroupStore(c);
    new RedisAuthStore(c);
    expect(Object.keys(c.scriptsSet)).toEqual([]);
    expect(Object.keys(c.pipeline()).length).toBe(baseline);
  });
});
