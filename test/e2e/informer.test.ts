/**
 * ResilientInformer against a scripted API server on 127.0.0.1 (no control plane needed): the failure modes a
 * real server produces only rarely, on demand. A 410 Gone makes it relist and report objects deleted meanwhile;
 * a failing watch makes it restart by itself.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { ResilientInformer, type InformerEvent } from '../../operator/src/informers.ts';
import { silentLogger } from '../../services/common/src/log.ts';

interface Script {
  items: KubernetesObject[];
  lists: number;
  watches: number;
  /** What the n-th watch request (1-based) gets: an HTTP status, a 410 ERROR event, or a held-open stream. */
  watch: (n: number) => 'gone' | 'fail' | 'hold';
}

let server: Server | undefined;
const open: ServerResponse[] = [];

afterEach(async () => {
  for (const res of open.splice(0)) res.destroy();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

const cm = (name: string, rv: string): KubernetesObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: 'ns', resourceVersion: rv },
});

async function fakeApiServer(script: Script): Promise<KubeConfig> {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    res.setHeader('content-type', 'application/json');
    if (url.pathname === '/api/v1') {
      res.end(JSON.stringify({
        kind: 'APIResourceList',
        groupVersion: 'v1',
        resources: [{ name: 'configmaps', singularName: 'configmap', namespaced: true, kind: 'ConfigMap', verbs: ['list', 'watch'] }],
      }));
    } else if (url.pathname === '/api/v1/configmaps' && url.searchParams.get('watch') === 'true') {
      const mode = script.watch(++script.watches);
      if (mode === 'fail') {
        res.statusCode = 500;
        res.end(JSON.stringify({ kind: 'Status', code: 500, message: 'boom' }));
      } else if (mode === 'gone') {
        res.write(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', code: 410, reason: 'Expired' } })}\n`);
        res.end();
      } else {
        res.write('');
        open.push(res);
      }
    } else if (url.pathname === '/api/v1/configmaps') {
      script.lists++;
      res.end(JSON.stringify({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: String(10 + script.lists) }, items: script.items }));
    } else {
      res.statusCode = 404;
      res.end('{}');
    }
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'fake', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'c', cluster: 'fake', user: 'u' }],
    currentContext: 'c',
  });
  return kc;
}

const def = { name: 'configmaps', apiVersion: 'v1', kind: 'ConfigMap', path: '/api/v1/configmaps' };

describe('ResilientInformer', () => {
  it('relists after 410 Gone and reports objects that vanished meanwhile', async () => {
    const script: Script = { items: [cm('a', '1'), cm('b', '2')], lists: 0, watches: 0, watch: (n) => (n === 1 ? 'gone' : 'hold') };
    const kc = await fakeApiServer(script);
    const events: string[] = [];
    const informer = new ResilientInformer(kc, def, {
      relistPeriodMs: 600_000,
      log: silentLogger,
      onEvent: (type: InformerEvent, o) => events.push(`${type} ${o.metadata?.name}`),
    });
    await informer.start();
    script.items = [cm('a', '1')];
    try {
      await expect.poll(() => script.lists, { timeout: 10_000 }).toBe(2);
      await expect.poll(() => events, { timeout: 10_000 }).toEqual(['add a', 'add b', 'delete b']);
      expect(informer.list().map((o) => o.metadata?.name)).toEqual(['a']);
    } finally {
      await informer.stop();
    }
  });

  it('restarts a watch that failed, with backoff, and keeps serving its cache', async () => {
    const script: Script = { items: [cm('a', '1')], lists: 0, watches: 0, watch: (n) => (n <= 2 ? 'fail' : 'hold') };
    const kc = await fakeApiServer(script);
    const restarts: string[] = [];
    const informer = new ResilientInformer(kc, def, {
      relistPeriodMs: 600_000,
      restartBaseMs: 20,
      log: silentLogger,
      onEvent: () => {},
      onRestart: (reason) => restarts.push(reason),
    });
    await informer.start();
    try {
      await expect.poll(() => script.watches, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
      expect(restarts).toEqual(['error', 'error']);
      expect(informer.isSynced).toBe(true);
      expect(informer.get('ns', 'a')?.metadata?.name).toBe('a');
    } finally {
      await informer.stop();
    }
  });
});
