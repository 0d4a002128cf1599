/**
 * A TCP proxy in front of the API server, so a test can cut every connection (as a load balancer restart or a
 * NAT timeout would) and refuse new ones for a while. TLS passes through untouched.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  /** Destroys every open connection and refuses new ones until resume(). */
  cut(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
}

/** Listens on `host` (loopback unless told), forwards to targetPort on 127.0.0.1. */
export async function startTcpProxy(targetPort: number, host = '127.0.0.1'): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const srv = createServer((client) => {
        const upstream = connect(targetPort, '127.0.0.1');
        sockets.add(client).add(upstream);
        const drop = () => {
          client.destroy();
          upstream.destroy();
          sockets.delete(client);
          sockets.delete(upstream);
        };
        client.on('error', drop).on('close', drop);
        upstream.on('error', drop).on('close', drop);
        client.pipe(upstream).pipe(client);
      });
      srv.once('error', reject);
      srv.listen(port, host, () => {
        const a = srv.address();
        port = typeof a === 'object' && a ? a.port : port;
        server = srv;
        resolve();
      });
    });
  const stopListening = () =>
    new Promise<void>((resolve) => {
      const srv = server;
      server = undefined;
      for (const s of sockets) s.destroy();
      sockets.clear();
      if (!srv) return resolve();
      srv.close(() => resolve());
    });
  await listen();
  return {
    get port() {
      return port;
    },
    cut: stopListening,
    resume: listen,
    close: stopListening,
  };
}
