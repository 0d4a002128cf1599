import type { OptionSpecs, ParsedOptions } from '../../common/src/options.ts';
import { LOG_LEVELS } from '../../common/src/log.ts';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../../common/src/message-size.ts';
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
  auth: { type: 'string', default: 'password', choices: ['cim', 'password'], description: 'password: accounts have passwords, /login issues short-lived tokens that every call acting for a user needs (needs --auth-secret); cim: CIM\'s open behaviour for CIM\'s own clients (no password, no token)' },
  authSecret: { type: 'string', optional: true, description: 'secret shared with the servers: signs tokens and authenticates pushes (required with --auth password)' },
  tokenTtl: { type: 'number', default: 900, min: 1, description: 'seconds an access token is valid (the SDK refreshes it)' },
  refreshTtl: { type: 'number', default: 604_800, min: 1, description: 'seconds a refresh token is valid (each is used once and replaced)' },
  loginMaxFailures: { type: 'int', default: 5, min: 1, description: 'failed password checks per account within --login-failure-window before its logins are refused with 9302' },
  loginMaxFailuresPerAddress: { type: 'int', default: 50, min: 1, description: 'failed password checks per client address within --login-failure-window before its logins are refused with 9302' },
  loginFailureWindow: { type: 'number', default: 300, min: 1, description: 'seconds failed password checks are counted for (from the first failure)' },
  probeTimeout: { type: 'int', default: 1000, min: 10, description: 'ms to wait for a chosen server\'s TCP port before choosing another' },
  advertise: { type: 'string', default: 'internal', choices: ['internal', 'external'], description: 'server address /login answers with: internal (the registered host, e.g. a pod IP) or external (the address a server publishes for clients outside the cluster; servers without one are not chosen)' },
  relayMaxConnections: { type: 'int', default: 20_000, min: 0, description: 'WebSocket connections relayed at once through GET /relay (chat through one port-forward of the route); 0 turns the relay off' },
  relayMaxFrameBytes: { type: 'int', default: 4 * 1024 * 1024, min: 1024, description: 'largest message relayed in either direction; larger closes that relayed connection (1009)' },
  relayConnectTimeout: { type: 'int', default: 3000, min: 100, description: 'ms to open a relayed connection\'s server side before the client is closed with 1014' },
  maxMessageBytes: { type: 'int', default: DEFAULT_MAX_MESSAGE_BYTES, min: 1, description: 'largest message text in UTF-8 bytes on /p2pRoute and /groupRoute (the same as cim server\'s); larger is refused with 3000' },
  registerRateLimit: { type: 'int', default: 100, min: 0, description: '/registerAccount calls per client address and minute; more get HTTP 429 with 7400; 0 = unlimited' },
  loginRateLimit: { type: 'int', default: 600, min: 0, description: '/login calls per client address and minute; more get HTTP 429 with 7400; 0 = unlimited' },
  inboxMax: { type: 'int', default: 1000, min: 1, max: 1_000_000, description: 'most pending private messages kept per user (oldest dropped first, counted in metrics)' },
  inboxTtl: { type: 'int', default: 259_200, min: 1, description: 'seconds a user\'s inbox lives after its last append (default 3 days)' },
  webConnectSrc: { type: 'string', optional: true, description: 'comma-separated extra sources (scheme://host[:port]) the web client at /app/ may connect to besides the route itself, for servers it reaches directly' },
  logLevel: { type: 'string', default: 'info', choices: LOG_LEVELS, description: 'log level' },
} satisfies OptionSpecs;

export type RouteConfig = ParsedOptions<typeof routeOptionSpecs>;
