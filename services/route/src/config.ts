import type { OptionSpecs, ParsedOptions } from '../../common/src/options.ts';
import { LOG_LEVELS } from '../../common/src/log.ts';
import { STRATEGIES } from '../../common/src/selection.ts';

export const routeOptionSpecs = {
  host: { type: 'string', default: '0.0.0.0', description: 'address to bind the HTTP listener to' },
  port: { type: 'int', default: 8083, min: 0, max: 65535, description: 'HTTP port (CIM API, /healthz, /readyz, /metrics); 0 = any free port' },
  zkConnect: { type: 'string', default: '127.0.0.1:2181', description: 'ZooKeeper connect string' },
  zkRoot: { type: 'string', default: '/cim', description: 'ZooKeeper parent node of the server registrations' },
  zkSessionTimeout: { type: 'int', default: 10_000, min: 1000, description: 'ZooKeeper session timeout in ms' },
  redisUrl: { type: 'string', default: 'redis://127.0.0.1:6379', description: 'Redis URL (accounts, presence, routes)' },
  redisPassword: { type: 'string', optional: true, description: 'Redis password (overrides one in the URL)' },
  strategy: { type: 'string', default: 'round-robin', choices: STRATEGIES, description: 'server selection for logins' },
  pendingLoginTtl: { type: 'number', default: 20, min: 1, description: 'seconds a login holds the user online until the client connects to the chosen server (which then keeps it online)' },
  authSecret: { type: 'string', optional: true, description: 'shared secret with the servers; when set, /login issues tokens and sender endpoints require them' },
  tokenTtl: { type: 'number', default: 86_400, min: 1, description: 'seconds a login token is valid' },
  probeTimeout: { type: 'int', default: 1000, min: 10, description: 'ms to wait for a chosen server\'s TCP port before choosing another' },
  logLevel: { type: 'string', default: 'info', choices: LOG_LEVELS, description: 'log level' },
} satisfies OptionSpecs;

export type RouteConfig = ParsedOptions<typeof routeOptionSpecs>;
