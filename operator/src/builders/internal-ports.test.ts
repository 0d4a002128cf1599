/**
 * Issue #10 in the manifests: every server gets an internal (push) port, which only the in-cluster headless Service
 * names; the metrics ports are optional, named on the pods and in the Prometheus annotations, in no Service.
 */
import type { KubernetesObject, V1Service } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { makeCluster } from '../testing.ts';
import { buildServerExternalServices } from './external.ts';
import { buildChildren } from './index.ts';
import { buildRouteDeployment, buildRouteService } from './route.ts';
import { buildServerHeadlessService, buildServerStatefulSet } from './server.ts';

const env = (c: { env?: { name: string; value?: string }[] } | undefined) => Object.fromEntries((c?.env ?? []).map((e) => [e.name, e.value]));
const servicePorts = (svc: V1Service) => (svc.spec?.ports ?? []).map((p) => `${p.name}:${p.port}->${String(p.targetPort)}`);
const isService = (o: KubernetesObject): o is V1Service => o.kind === 'Service';

describe('the servers’ internal port', () => {
  it('defaults to 8082: passed as CIM_INTERNAL_PORT and declared as the container port "internal"', () => {
    const c = buildServerStatefulSet(makeCluster()).spec!.template.spec!.containers[0]!;
    expect(env(c)['CIM_INTERNAL_PORT']).toBe('8082');
    expect(c.ports).toContainEqual({ name: 'internal', containerPort: 8082, protocol: 'TCP' });
    expect(env(c)).not.toHaveProperty('CIM_METRICS_PORT');
    // Probes stay on the public HTTP port.
    expect(c.readinessProbe?.httpGet?.port).toBe('http');
  });

  it('is named by the headless Service only, never by a Service clients use', () => {
    const cr = makeCluster({ server: { internalPort: 9100, replicas: 2, external: { type: 'LoadBalancer' } }, route: { service: { type: 'LoadBalancer' } } });
    expect(servicePorts(buildServerHeadlessService(cr))).toEqual(['im:11211->im', 'http:8081->http', 'internal:9100->internal']);
    for (const svc of buildServerExternalServices(cr)) expect(servicePorts(svc)).toEqual(['im:11211->im', 'http:8081->http']);
    expect(servicePorts(buildRouteService(cr))).toEqual(['http:8083->http']);
    // Across every child: the internal port appears in exactly one Service, the headless one.
    const withInternal = buildChildren(cr).filter(isService).filter((s) => s.spec?.ports?.some((p) => p.targetPort === 'internal' || p.port === 9100));
    expect(withInternal.map((s) => s.metadata?.name)).toEqual(['chat-server-hs']);
    expect(withInternal[0]?.spec?.clusterIP).toBe('None');
  });
});

describe('metrics ports', () => {
  it('absent: /metrics stays on the main ports, which the Prometheus annotations name', () => {
    const cr = makeCluster();
    expect(buildServerStatefulSet(cr).spec!.template.metadata?.annotations?.['prometheus.io/port']).toBe('8081');
    expect(buildRouteDeployment(cr).spec!.template.metadata?.annotations?.['prometheus.io/port']).toBe('8083');
    expect(buildRouteDeployment(cr).spec!.template.spec!.containers[0]!.ports).toHaveLength(1);
  });

  it('set: passed as CIM_METRICS_PORT, declared on the pods, named by the annotations, in no Service', () => {
    const cr = makeCluster({ server: { metricsPort: 9090, external: { type: 'NodePort' } }, route: { metricsPort: 9091 } });
    const sts = buildServerStatefulSet(cr).spec!.template;
    const dep = buildRouteDeployment(cr).spec!.template;
    expect(env(sts.spec!.containers[0])['CIM_METRICS_PORT']).toBe('9090');
    expect(env(dep.spec!.containers[0])['CIM_METRICS_PORT']).toBe('9091');
    expect(sts.spec!.containers[0]!.ports).toContainEqual({ name: 'metrics', containerPort: 9090, protocol: 'TCP' });
    expect(dep.spec!.containers[0]!.ports).toContainEqual({ name: 'metrics', containerPort: 9091, protocol: 'TCP' });
    expect(sts.metadata?.annotations).toMatchObject({ 'prometheus.io/port': '9090', 'prometheus.io/path': '/metrics' });
    expect(dep.metadata?.annotations).toMatchObject({ 'prometheus.io/port': '9091', 'prometheus.io/path': '/metrics' });
    for (const svc of buildChildren(cr).filter(isService)) {
      expect(svc.spec?.ports?.some((p) => p.targetPort === 'metrics' || p.port === 9090 || p.port === 9091), svc.metadata?.name).toBe(false);
    }
  });
});
