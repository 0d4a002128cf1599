import { describe, expect, it } from 'vitest';
import { ClientErrorCode } from './errors.ts';
import { checkVia, isLoopbackHost, openConnection, relayUrl, usesRelay, type Endpoint } from './transport.ts';

const pod: Endpoint = { ip: '10.244.0.13', cimServerPort: 11211, httpPort: 8081, wsPath: '/ws' };
const local: Endpoint = { ip: '127.0.0.1', cimServerPort: 11211, httpPort: 8081, wsPath: '/ws' };

describe('via: direct, route or auto', () => {
  it('auto relays only from a loopback route (a port-forward) to a non-loopback server', () => {
    for (const route of ['http://127.0.0.1:8083', 'http://localhost:8083', 'http://[::1]:8083', 'http://127.1.2.3:9000']) {
      expect(usesRelay('auto', route, pod)).toBe(true);
      expect(usesRelay('auto', route, local)).toBe(false);
    }
    expect(usesRelay('auto', 'http://cim-route.im.svc:8083', pod)).toBe(false);
    expect(usesRelay('direct', 'http://127.0.0.1:8083', pod)).toBe(false);
    expect(usesRelay('route', 'http://cim-route.im.svc:8083', local)).toBe(true);
  });

  it('builds the relay URL from the route URL and the server id', () => {
    expect(relayUrl('http://127.0.0.1:8083', pod)).toBe('ws://127.0.0.1:8083/relay?server=10.244.0.13%3A11211%3A8081');
    expect(relayUrl('https://chat.example.org/cim/', pod)).toBe('wss://chat.example.org/cim/relay?server=10.244.0.13%3A11211%3A8081');
  });

  it('knows loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.255.0.1', 'localhost', 'a.localhost', '::1', '[::1]', '::ffff:127.0.0.1']) expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['10.0.0.1', '128.0.0.1', 'example.com', '::ffff:10.0.0.1', '127.0.0.1.nip.io']) expect(isLoopbackHost(h)).toBe(false);
  });

  it('refuses a bad value and the relay with the TCP transport', async () => {
    expect(checkVia(undefined, 'ws')).toBe('auto');
    expect(checkVia('route', 'ws')).toBe('route');
    expect(checkVia('auto', 'tcp')).toBe('auto');
    expect(() => checkVia('proxy', 'ws')).toThrow(expect.objectContaining({ code: ClientErrorCode.INVALID_ARGUMENT }));
    expect(() => checkVia('route', 'tcp')).toThrow(/relays WebSockets only/);
    const handlers = { onFrame: () => undefined, onClose: () => undefined };
    const options = { timeoutMs: 1000, signal: new AbortController().signal, maxFrameBytes: 1024, via: 'route' as const, routeUrl: 'http://127.0.0.1:1' };
    await expect(openConnection('tcp', local, handlers, options)).rejects.toMatchObject({ code: ClientErrorCode.INVALID_ARGUMENT });
  });
});
