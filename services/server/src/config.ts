import type { OptionSpecs, ParsedOptions } from '../../common/src/options.ts';
import { LOG_LEVELS } from '../../common/src/log.ts';
import { DEFAULT_MAX_MESSAGE_BYTES, FRAME_OVERHEAD_BYTES } from '../../common/src/message-size.ts';

export const serverOptionSpecs = {
  host: { type: 'string', default: '0.0.0.0', description: 'address to bind the TCP and HTTP listeners to' },
  tcpPort: { type: 'int', default: 11211, min: 0, max: 65535, description: 'TCP port for CIM clients (varint32-framed protobuf); 0 = any free port' },
  httpPort: { type: 'int', default: 8081, min: 0, max: 65535, description: 'HTTP port: WebSocket at --ws-path, /sendMsg, /healthz, /readyz, /metrics, and /push, /push/batch unless --internal-port is set; 0 = any free port' },
  internalPort: { type: 'int', optional: true, min: 0, max: 65535, description: 'port of the push endpoints (/push, /push/batch; /sendMsg too unless --auth cim), which --http-port then answers 404; published in ZooKeeper, the routes and other servers push there; 0 = any free port. Default: unset, everything on --http-port (CIM\'s layout)' },
  internalHost: { type: 'string', optional: true, description: 'address to bind --internal-port to (default: --host)' },
  metricsPort: { type: 'int', optional: true, min: 0, max: 65535, description: 'port serving /metrics (plain HTTP), which --http-port then answers 404; /healthz and /readyz stay on --http-port; 0 = any free port. Default: unset, /metrics on --http-port' },
  wsPath: { type: 'string', default: '/ws', description: 'WebSocket path on the HTTP port' },
  advertiseHost: { type: 'string', optional: true, description: 'host registered in ZooKeeper (default: first non-loopback IPv4, else 127.0.0.1; in Kubernetes the pod IP)' },
  externalAddressFile: { type: 'string', optional: true, description: 'JSON file {host, tcpPort, httpPort}: the address clients outside the cluster use, re-read every few seconds and published in ZooKeeper (Kubernetes external access; the operator sets it)' },
  zkConnect: { type: 'string', default: '127.0.0.1:2181', description: 'ZooKeeper connect string' },
  zkRoot: { type: 'string', default: '/cim', description: 'ZooKeeper parent node of the server registrations' },
  zkSessionTimeout: { type: 'int', default: 10_000, min: 1000, description: 'ZooKeeper session timeout in ms (a crashed server disappears after it)' },
  redisUrl: { type: 'string', default: 'redis://127.0.0.1:6379', description: 'Redis URL (accounts, presence, routes, inboxes): redis:// or rediss:// (one Redis), redis-cluster://host:port,host:port (Redis Cluster; the hosts are seeds) or redis-sentinel://host:port,host:port/<masterName> (the master Sentinel names)' },
  redisPassword: { type: 'string', optional: true, description: 'Redis password (overrides one in the URL); for a cluster every node\'s, for Sentinel the data nodes\' (sentinels are asked without one)' },
  offlineStore: { type: 'string', default: 'redis', choices: ['redis', 'postgres'], description: 'where the inboxes (offline messages) and the history are kept, CIM\'s offline.store.mode: redis (beside accounts and routes) or postgres (needs --postgres-url; the schema is migrated at start). Routes and servers must agree' },
  postgresUrl: { type: 'string', optional: true, description: 'PostgreSQL URL for --offline-store postgres: postgres://user:password@host:5432/database (password also from PGPASSWORD; TLS with ?sslmode=require)' },
  heartbeatTimeout: { type: 'number', default: 30, min: 0.1, description: 'seconds without any frame from a client before it is evicted' },
  loginTimeout: { type: 'number', default: 5, min: 0.1, description: 'seconds a new connection has to send LOGIN_REQUEST' },
  presenceTtl: { type: 'number', default: 90, min: 1, description: 'seconds a user stays online in Redis without a refresh (refreshed every third of it)' },
  maxMessageBytes: { type: 'int', default: DEFAULT_MAX_MESSAGE_BYTES, min: 1, description: 'largest message text in UTF-8 bytes, in-band MESSAGE and pushes (the same on cim route); larger is refused with 3000' },
  maxFrameBytes: { type: 'int', optional: true, min: 64, description: `largest accepted frame (default and minimum: --max-message-bytes + ${FRAME_OVERHEAD_BYTES}); larger closes that connection` },
  maxQueueBytes: { type: 'int', optional: true, min: 1024, description: 'largest unsent backlog per connection before it is closed as a slow consumer (default: twice the largest frame)' },
  maxMsgRate: { type: 'number', default: 100, min: 0, description: 'frames per second one connection may send on average (PING included); more get MESSAGE_ACK 7400, more than twice that for long gets closed with 4029; 0 = unlimited' },
  msgBurst: { type: 'int', default: 200, min: 1, description: 'frames one connection may send at once above --max-msg-rate' },
  maxConnectionsPerAddress: { type: 'int', default: 1000, min: 0, description: 'open connections (TCP and WebSocket together) per client IP address; more are refused at accept (WebSocket: HTTP 429); 0 = unlimited' },
  auth: { type: 'string', default: 'password', choices: ['cim', 'password'], description: 'password: a LOGIN_REQUEST needs the route\'s token; cim: CIM\'s open behaviour (no token; /sendMsg open on --http-port). /push and /push/batch need --auth-secret in both' },
  authSecret: { type: 'string', optional: true, description: 'secret shared with the routes and servers: authenticates every push (/push, /push/batch; /sendMsg outside --auth cim) and checks tokens. Required in every --auth mode' },
  revocationCheck: { type: 'number', default: 5, min: 0.1, description: 'seconds between checks of live sessions for revoked tokens (logout, password change); a revoked session is closed with 4101' },
  inboxMax: { type: 'int', default: 1000, min: 1, max: 1_000_000, description: 'most pending private messages kept per user (oldest dropped first, counted in metrics)' },
  inboxMaxPerSender: { type: 'int', default: 200, min: 1, max: 1_000_000, description: 'most pending private messages one sender may hold in one user\'s inbox (capped at --inbox-max); more are refused with 7310 and counted in cim_inbox_refused_total, so one sender cannot push the others\' messages out' },
  inboxTtl: { type: 'int', default: 259_200, min: 1, description: 'seconds a user\'s inbox lives after its last append (default 3 days)' },
  groupPresenceMax: { type: 'int', default: 100, min: 0, max: 100_000, description: 'members of a named group hear of each other going online/offline (PRESENCE) when the group has at most this many members (bigger groups: through contacts only); 0 = contacts only' },
  pushTransport: { type: 'string', default: 'link', choices: ['link', 'http'], description: 'how pushes reach servers: link (one persistent WebSocket per server, /push/link on its push port; a server without it is served over HTTP) or http (POST /push/batch per batch)' },
  loginPolicy: { type: 'string', default: 'reject', choices: ['reject', 'takeover', 'multi'], description: 'a second login of a user: reject (CIM\'s: refused while the first is online), takeover (the new session wins, the old one is closed with 4100 and does not reconnect) or multi (up to --max-devices sessions, each with its own inbox; sends and reads show on the others). Routes and servers must agree' },
  maxDevices: { type: 'int', default: 5, min: 1, max: 100, description: 'with --login-policy multi: most devices (and live sessions) per user; a device unused for --inbox-ttl, or the least recently used offline one, makes room' },
  historyMax: { type: 'int', default: 1000, min: 0, max: 100_000, description: 'most messages kept per conversation on the server for history paging (oldest out first); 0 turns server-side history off' },
  historyTtl: { type: 'int', default: 2_592_000, min: 1, description: 'seconds a conversation\'s history lives after its last message (default 30 days)' },
  shutdownTimeout: { type: 'number', default: 10, min: 0, description: 'seconds to drain connections on SIGTERM' },
  allowedOrigins: { type: 'string', optional: true, description: 'comma-separated Origins (e.g. https://chat.example.com) whose pages may open a WebSocket; a browser from any other is refused with 403. Clients that send no Origin (SDK, CLI, the route\'s relay) are not affected. Default: any' },
  tlsCert: { type: 'string', optional: true, description: 'PEM certificate (chain) file: the HTTP port serves HTTPS and WSS (needs --tls-key); re-read when it changes (cert-manager rotation)' },
  tlsKey: { type: 'string', optional: true, description: 'PEM private key file of --tls-cert' },
  tlsTcp: { type: 'boolean', default: false, description: 'with --tls-cert: the TCP port speaks TLS too (this project\'s SDK and CLI follow; CIM\'s Java client then cannot connect to it)' },
  tlsName: { type: 'string', optional: true, description: 'DNS name in the certificate that clients, routes and other servers verify instead of this server\'s address (a pod IP is rarely in a certificate); published in ZooKeeper' },
  serverTlsCa: { type: 'string', optional: true, description: 'PEM CA bundle that verifies other cim-servers\' certificates when pushing to them over HTTPS (default: the system CAs)' },
  tlsReloadInterval: { type: 'number', default: 10, min: 0.1, description: 'seconds between checks of the --tls-cert/--tls-key files for a new certificate' },
  logLevel: { type: 'string', default: 'info', choices: LOG_LEVELS, description: 'log level' },
} satisfies OptionSpecs;

export type ServerConfig = ParsedOptions<typeof serverOptionSpecs>;

/** The frame and backlog bounds a message of --max-message-bytes fits in; a smaller --max-frame-bytes is a configuration error. */
export function frameLimits(config: Pick<ServerConfig, 'maxMessageBytes' | 'maxFrameBytes' | 'maxQueueBytes'>): { maxFrameBytes: number; maxQueueBytes: number } {
  const least = config.maxMessageBytes + FRAME_OVERHEAD_BYTES;
  const maxFrameBytes = config.maxFrameBytes ?? least;
  if (maxFrameBytes < least) throw new Error(`--max-frame-bytes ${maxFrameBytes} is below --max-message-bytes + ${FRAME_OVERHEAD_BYTES} (${least}): a message of the maximum size would close its connection`);
  return { maxFrameBytes, maxQueueBytes: config.maxQueueBytes ?? 2 * maxFrameBytes };
}
