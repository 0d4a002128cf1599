/**
 * The manifests and the services agree: the environment the operator gives each container parses
 * without a single problem as that service's options (a renamed or removed option fails here, not in
 * a crash-looping pod), and the values land where the builders meant them.
 */
import type { V1Container, V1EnvVar } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { parseOptions } from '../../../services/common/src/options.ts';
import { routeOptionSpecs } from '../../../services/route/src/config.ts';
import { serverOptionSpecs } from '../../../services/server/src/config.ts';
import { makeCluster } from '../testing.ts';
import { buildConfigMap } from './config.ts';
import { buildRouteDeployment } from './route.ts';
import { buildServerStatefulSet } from './server.ts';

/** The environment a container would see: ConfigMap envFrom, then env (valueFrom resolved to stand-ins). */
function containerEnv(container: V1Container, configMapData: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) if (from.configMapRef) Object.assign(env, configMapData);
  for (const e of container.env ?? ([] as V1EnvVar[])) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef?.fieldPath === 'status.podIP') env[e.name] = '10.1.2.3';
    else if (e.valueFrom?.secretKeyRef) env[e.name] = 'secret-from-kubernetes';
  }
  return env;
}

describe.each([
  ['default cluster', makeCluster()],
  ['external stores with auth and a non-default port', makeCluster({ redis: { external: { url: 'redis://redis.example:6380' } }, zookeeper: { external: { connectString: 'zk-a:2181,zk-b:2181' } }, server: { tcpPort: 12000, httpPort: 9000 }, auth: { enabled: true } })],
  ['external access', makeCluster({ server: { external: { type: 'NodePort' } } })],
  ['CIM open auth, metrics ports, another internal port', makeCluster({ auth: { enabled: false }, server: { internalPort: 9100, metricsPort: 9090 }, route: { metricsPort: 9091 } })],
])('operator manifests vs. service options: %s', (_name, cr) => {
  const config = buildConfigMap(cr).data ?? {};

  it('cim-server accepts its whole environment', () => {
    const container = buildServerStatefulSet(cr).spec!.template.spec!.containers[0]!;
    expect(container.args?.[0]).toBe('server');
    const { options } = parseOptions(serverOptionSpecs, container.args!.slice(1), containerEnv(container, config));
    expect(options.advertiseHost).toBe('10.1.2.3');
    expect(options.tcpPort).toBe(cr.spec.server.tcpPort);
    expect(options.httpPort).toBe(cr.spec.server.httpPort);
    expect(options.host).toBe('0.0.0.0');
    expect(options.internalPort).toBe(cr.spec.server.internalPort);
    expect(options.metricsPort).toBe(cr.spec.server.metricsPort);
    expect(container.ports?.map((p) => p.containerPort)).toEqual([options.tcpPort, options.httpPort, options.internalPort, ...(options.metricsPort ? [options.metricsPort] : [])]);
    expect(container.readinessProbe?.httpGet?.path).toBe('/readyz');
    // The kubelet expands $(POD_NAME) from the pod's name (chat-server-0 in this stand-in).
    expect(options.externalAddressFile?.replace('$(POD_NAME)', 'chat-server-0')).toBe(
      cr.spec.server.external ? `${container.volumeMounts?.[0]?.mountPath}/chat-server-0` : undefined,
    );
  });

  it('cim-route accepts its whole environment', () => {
    const container = buildRouteDeployment(cr).spec!.template.spec!.containers[0]!;
    expect(container.args?.[0]).toBe('route');
    const { options } = parseOptions(routeOptionSpecs, container.args!.slice(1), containerEnv(container, config));
    expect(container.ports?.map((p) => p.containerPort)).toEqual([options.port, ...(options.metricsPort ? [options.metricsPort] : [])]);
    expect(options.metricsPort).toBe(cr.spec.route.metricsPort);
    expect(options.zkConnect).toBe(config['CIM_ZK_CONNECT']);
    expect(options.redisUrl).toBe(config['CIM_REDIS_URL']);
    expect(options.advertise).toBe(cr.spec.server.external ? 'external' : 'internal');
  });

  it('servers and routes share one ZooKeeper root, Redis and auth secret', () => {
    const server = parseOptions(serverOptionSpecs, [], containerEnv(buildServerStatefulSet(cr).spec!.template.spec!.containers[0]!, config)).options;
    const route = parseOptions(routeOptionSpecs, [], containerEnv(buildRouteDeployment(cr).spec!.template.spec!.containers[0]!, config)).options;
    expect([route.zkConnect, route.zkRoot, route.redisUrl, route.authSecret]).toEqual([server.zkConnect, server.zkRoot, server.redisUrl, server.authSecret]);
    expect(server.authSecret).toBe('secret-from-kubernetes');
    expect([server.auth, route.auth]).toEqual(cr.spec.auth.enabled ? ['password', 'password'] : ['cim', 'cim']);
  });
});
