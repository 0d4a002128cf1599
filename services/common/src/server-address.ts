/**
 * CIM's server address, `{host}:{tcpPort}:{httpPort}`: the name of each server's ephemeral ZooKeeper
 * node under the root (`/cim/10.0.0.1:11211:8081`) and the value of `cim-route:{userId}` in Redis.
 * Pure.
 */

export interface ServerAddress {
  readonly host: string;
  readonly tcpPort: number;
  readonly httpPort: number;
}

/** Optional JSON data of a server's ZooKeeper node (CIM leaves it empty; CIM readers ignore it). */
export interface ServerNodeData {
  readonly wsPath: string;
  readonly version: string;
  readonly connections: number;
  readonly startedAt: number;
  /** Where clients outside the cluster reach this server (Kubernetes external access); absent otherwise. */
  readonly external?: ServerAddress;
  /** Present when the server's HTTP/WebSocket port speaks TLS (see ServerTls). */
  readonly tls?: ServerTls;
  /** --internal-port: where the server takes pushes (/push, /push/batch); absent = on httpPort (CIM's layout). */
  readonly internalPort?: number;
}

/** How to reach a TLS server: `tcp` its TCP port is TLS too; `name` the certificate name to verify instead of the address. */
export interface ServerTls {
  readonly tcp: boolean;
  readonly name?: string;
}

export interface ServerInfo extends ServerAddress {
  /** The canonical `host:tcpPort:httpPort` string. */
  readonly id: string;
  readonly data?: ServerNodeData;
}

export function formatServerAddress(addr: ServerAddress): string {
  return `${addr.host}:${addr.tcpPort}:${addr.httpPort}`;
}

const isPort = (n: number) => Number.isInteger(n) && n > 0 && n <= 65535;

/** Validates `{host, tcpPort, httpPort}` from JSON (a file or node data written by someone else). */
export function parseExternalAddress(v: unknown): ServerAddress | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const { host, tcpPort, httpPort } = v as Record<string, unknown>;
  if (typeof host !== 'string' || !/^[A-Za-z0-9]([A-Za-z0-9.:-]{0,251}[A-Za-z0-9])?$/.test(host)) return undefined;
  if (typeof tcpPort !== 'number' || typeof httpPort !== 'number' || !isPort(tcpPort) || !isPort(httpPort)) return undefined;
  return { host, tcpPort, httpPort };
}

/** Parses `host:tcpPort:httpPort`; returns undefined for anything else (CIM answers 3000 there). */
export function parseServerAddress(value: string): ServerAddress | undefined {
  const parts = value.split(':');
  if (parts.length !== 3) return undefined;
  const [host, tcp, http] = parts as [string, string, string];
  if (host === '' || !/^\d+$/.test(tcp) || !/^\d+$/.test(http)) return undefined;
  const tcpPort = Number(tcp);
  const httpPort = Number(http);
  if (!isPort(tcpPort) || !isPort(httpPort)) return undefined;
  return { host, tcpPort, httpPort };
}

export function parseServerNodeData(raw: Buffer | undefined): ServerNodeData | undefined {
  if (!raw || raw.length === 0) return undefined;
  try {
    const v = JSON.parse(raw.toString('utf8')) as Partial<ServerNodeData>;
    return {
      wsPath: typeof v.wsPath === 'string' ? v.wsPath : '/ws',
      version: typeof v.version === 'string' ? v.version : '',
      connections: typeof v.connections === 'number' ? v.connections : 0,
      startedAt: typeof v.startedAt === 'number' ? v.startedAt : 0,
      ...withExternal(parseExternalAddress(v.external)),
      ...withTls(v.tls),
      ...(typeof v.internalPort === 'number' && isPort(v.internalPort) ? { internalPort: v.internalPort } : {}),
    };
  } catch {
    return undefined; // a foreign or older writer: the node name alone is enough
  }
}

const withExternal = (external: ServerAddress | undefined) => (external ? { external } : {});

/** Node data is written by someone else: only a well-formed tls object counts. */
function withTls(v: unknown): { tls?: ServerTls } {
  if (typeof v !== 'object' || v === null) return {};
  const { tcp, name } = v as Record<string, unknown>;
  const okName = typeof name === 'string' && /^[A-Za-z0-9*]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(name);
  return { tls: { tcp: tcp === true, ...(okName ? { name } : {}) } };
}

/** The address a client is sent to: the external one when asked for and published, else the registered one. */
export function clientAddress(server: ServerInfo, advertise: 'internal' | 'external'): ServerAddress {
  return advertise === 'external' && server.data?.external ? server.data.external : server;
}

/** The servers a login may choose: with 'external', only those that published an external address. */
export function advertisable(servers: readonly ServerInfo[], advertise: 'internal' | 'external'): readonly ServerInfo[] {
  return advertise === 'external' ? servers.filter((s) => s.data?.external !== undefined) : servers;
}

export function serverInfo(id: string, data?: ServerNodeData): ServerInfo | undefined {
  const addr = parseServerAddress(id);
  if (!addr) return undefined;
  return data ? { ...addr, id, data } : { ...addr, id };
}
