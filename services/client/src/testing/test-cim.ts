/**
 * The REAL cim-route and cim-servers in this process on in-memory stores (`cim up --embedded`'s wiring,
 * services/cli/src/up.ts), for the SDK's and the CLI's unit tests. Each server sits behind FaultProxy
 * ports (its WebSocket and its TCP port), and the clients get a `fetch` that points login grants at those
 * proxies and maps the `server` of /offLine back to the real server id, so tests can cut, mute or kill
 * a client's connection while route and server run unchanged. Every route call is recorded.
 */
import { silentLogger } from '../../../common/src/log.ts';
import { formatServerAddress } from '../../../common/src/server-address.ts';
import { startLocalCluster } from '../../../cli/src/up.ts';
import type { CimClient } from '../sdk/client.ts';
import { FaultProxy } from './fault-proxy.ts';
import type { PeerEndpoint } from './scripted-peer.ts';

export const TEST_AUTH_SECRET = 'client-unit-test-secret';
/** The cluster runs in password mode; clients that set no password get this one (see testFetch). */
export const TEST_PASSWORD = 'client-unit-test-password';

export interface RouteCall {
  /** e.g. "POST /login" */
  readonly path: string;
  readonly body: Record<string, unknown>;
}

export interface TestServer {
  /** The real server id, host:tcpPort:httpPort. */
  readonly id: string;
  readonly ws: FaultProxy;
  readonly tcp: FaultProxy;
  /** Graceful stop of the real server: deregister, GOAWAY 1001 to its clients, close. */
  stop(): Promise<void>;
  /** The proxies refuse connections and drop the open ones (a crashed server the route still offers). */
  kill(): Promise<void>;
  /** Every connection through its proxies is cut (no GOAWAY). */
  dropAll(): void;
  /** Connections stay open but nothing passes either way (a half-open peer). */
  mute(muted: boolean): void;
}

export interface TestCim {
  readonly routeUrl: string;
  readonly servers: readonly TestServer[];
  readonly routeCalls: RouteCall[];
  /** Pass to ClientOptions.fetch. */
  readonly fetch: typeof fetch;
  /** Options every test client needs: routeUrl and fetch. */
  readonly clientOptions: { readonly routeUrl: string; readonly fetch: typeof fetch };
  /** The next /login grant points here instead of the chosen server (the route's state is unchanged). */
  redirectNextLogin(endpoint: PeerEndpoint): void;
  /** Index in `servers` of the server a client is connected to, from its grant. */
  serverIndexOf(client: CimClient): number;
  onlineUserIds(): Promise<number[]>;
  stop(): Promise<void>;
}

export async function startTestCim(options: { servers?: number } = {}): Promise<TestCim> {
  const cluster = await startLocalCluster(
    {
      embedded: true,
      servers: options.servers ?? 2,
      host: '127.0.0.1',
      routePort: 0,
      serverTcpPort: 0,
      serverHttpPort: 0,
      strategy: 'round-robin',
      heartbeatTimeout: 30,
      authSecret: TEST_AUTH_SECRET,
      logLevel: 'error',
    } as Parameters<typeof startLocalCluster>[0],
    silentLogger,
  );
  const servers: TestServer[] = [];
  try {
    for (const handle of cluster.servers) {
      const ws = await FaultProxy.start(handle.httpPort);
      const tcp = await FaultProxy.start(handle.tcpPort, { decodeTcp: true });
      servers.push({
        id: handle.id,
        ws,
        tcp,
        stop: () => handle.stop(),
        kill: async () => void (await Promise.all([ws.kill(), tcp.kill()])),
        dropAll: () => (ws.dropAll(), tcp.dropAll()),
        mute: (muted) => void (ws.muted = tcp.muted = muted),
      });
    }
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  const routeCalls: RouteCall[] = [];
  const realServerOf = new Map<number, string>();
  let redirect: PeerEndpoint | undefined;

  const testFetch: typeof fetch = async (input, init) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const path = `${init?.method ?? 'GET'} ${url.pathname}`;
    let body: Record<string, unknown> = {};
    if (typeof init?.body === 'string') body = JSON.parse(init.body) as Record<string, unknown>;
    routeCalls.push({ path, body: { ...body } });
    let requestInit = init;
    if ((path === 'POST /registerAccount' || path === 'POST /login') && body['password'] === undefined && body['token'] === undefined) {
      requestInit = { ...init, body: JSON.stringify({ ...body, password: TEST_PASSWORD }) };
    }
    if (path === 'POST /offLine' && typeof body['server'] === 'string') {
      // The client names the endpoint it was given; the route knows the real server.
      const real = realServerOf.get(Number(body['userId']));
      requestInit = { ...init, body: JSON.stringify({ ...body, ...(real ? { server: real } : {}) }) };
    }
    const response = await fetch(input, requestInit);
    if (path !== 'POST /login') return response;
    const envelope = (await response.json()) as { dataBody?: Record<string, unknown> | null };
    const grant = envelope.dataBody;
    if (grant && typeof grant['ip'] === 'string') {
      const real = formatServerAddress({ host: grant['ip'], tcpPort: Number(grant['cimServerPort']), httpPort: Number(grant['httpPort']) });
      realServerOf.set(Number(body['userId']), real);
      const server = servers.find((s) => s.id === real);
      if (redirect) {
        Object.assign(grant, { ip: redirect.ip, cimServerPort: redirect.cimServerPort, httpPort: redirect.httpPort, wsPath: redirect.wsPath });
        redirect = undefined;
      } else if (server) {
        Object.assign(grant, { cimServerPort: server.tcp.port, httpPort: server.ws.port });
      }
    }
    return new Response(JSON.stringify(envelope), { status: response.status, headers: { 'content-type': 'application/json' } });
  };

  return {
    routeUrl: cluster.route.url,
    servers,
    routeCalls,
    fetch: testFetch,
    clientOptions: { routeUrl: cluster.route.url, fetch: testFetch },
    redirectNextLogin(endpoint) {
      redirect = endpoint;
    },
    serverIndexOf(client) {
      const server = client.info().server;
      return servers.findIndex((s) => server !== undefined && (s.ws.port === server.httpPort || s.tcp.port === server.cimServerPort));
    },
    async onlineUserIds() {
      const res = await fetch(`${cluster.route.url}/onlineUser`);
      const envelope = (await res.json()) as { dataBody: { userId: number }[] | null };
      return (envelope.dataBody ?? []).map((u) => Number(u.userId));
    },
    async stop() {
      for (const s of servers) await Promise.all([s.ws.stop(), s.tcp.stop()]);
      await cluster.stop();
    },
  };
}
