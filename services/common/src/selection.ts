/**
 * Server selection strategies for logins. Pure apart from round robin's counter, which lives in the
 * strategy object; randomness is injected. Each strategy sees an immutable snapshot of live servers.
 */
import { HashRing } from './ring.ts';
import type { ServerInfo } from './server-address.ts';

export const STRATEGIES = ['round-robin', 'random', 'least-connections', 'consistent-hash'] as const;
export type StrategyName = (typeof STRATEGIES)[number];

export interface SelectionStrategy {
  readonly name: StrategyName;
  /** Chooses a server for `userId` among `servers` (never empty), skipping ids in `exclude`. */
  choose(servers: readonly ServerInfo[], userId: number, exclude?: ReadonlySet<string>): ServerInfo | undefined;
}

const usable = (servers: readonly ServerInfo[], exclude?: ReadonlySet<string>) =>
  exclude && exclude.size > 0 ? servers.filter((s) => !exclude.has(s.id)) : servers;

export function createStrategy(name: StrategyName, random: () => number = Math.random): SelectionStrategy {
  switch (name) {
    case 'round-robin': {
      let next = 0;
      return {
        name,
        choose(servers, _userId, exclude) {
          const list = usable(servers, exclude);
          if (list.length === 0) return undefined;
          const chosen = list[next % list.length];
          next = (next + 1) % 1_000_000_007;
          return chosen;
        },
      };
    }
    case 'random':
      return {
        name,
        choose(servers, _userId, exclude) {
          const list = usable(servers, exclude);
          if (list.length === 0) return undefined;
          return list[Math.min(list.length - 1, Math.floor(random() * list.length))];
        },
      };
    case 'least-connections':
      return {
        name,
        choose(servers, _userId, exclude) {
          const list = usable(servers, exclude);
          let best: ServerInfo | undefined;
          for (const s of list) {
            if (!best || (s.data?.connections ?? 0) < (best.data?.connections ?? 0)) best = s;
          }
          return best;
        },
      };
    case 'consistent-hash': {
      // The ring is rebuilt only when the server list (or the exclusion set) changes, not per login.
      let cacheKey = '';
      let ring = new HashRing([]);
      return {
        name,
        choose(servers, userId, exclude) {
          const list = usable(servers, exclude);
          if (list.length === 0) return undefined;
          const key = list.map((s) => s.id).join(',');
          if (key !== cacheKey) {
            ring = new HashRing(list.map((s) => s.id));
            cacheKey = key;
          }
          const id = ring.lookup(String(userId));
          return list.find((s) => s.id === id);
        },
      };
    }
  }
}
