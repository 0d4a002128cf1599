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
    };
  } catch {
    return undefined; // a foreign or older writer: the node name alone is enough
  }
}

export function serverInfo(id: string, data?: ServerNodeData): ServerInfo | undefined {
  const addr = parseServerAddress(id);
  if (!addr) return undefined;
  return data ? { ...addr, id, data } : { ...addr, id };
}
