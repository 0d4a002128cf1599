/**
 * TypeScript mirror of crds/cimcluster.yaml. The CRD's OpenAPI schema is the contract; these types describe an
 * object *after* the API server applied the schema defaults, which is how the operator always receives it.
 * `withDefaults` fills the same defaults for objects that did not come from the API server (unit tests, docs).
 */
import type { V1ObjectMeta, V1ResourceRequirements } from '@kubernetes/client-node';

export const GROUP = 'cim.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'CimCluster';
export const PLURAL = 'cimclusters';

export interface SecretKeyRef {
  name: string;
  key: string;
}

export interface StorageSpec {
  size: string;
  storageClassName?: string;
  ephemeral: boolean;
}

export interface RedisSpec {
  image: string;
  storage: StorageSpec;
  passwordSecretRef?: SecretKeyRef;
  external?: { url: string };
  /** a managed Redis Cluster instead of one primary (immutable) */
  cluster?: RedisClusterSpec;
  resources?: V1ResourceRequirements;
}

export interface RedisClusterSpec {
  shards: number;
  replicasPerShard: number;
}

export interface ZookeeperSpec {
  image: string;
  replicas: 1 | 3;
  storage: StorageSpec;
  external?: { connectString: string };
  root: string;
  resources?: V1ResourceRequirements;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

export type ImagePullPolicy = 'Always' | 'IfNotPresent' | 'Never';

/** Fixed node ports of one server pod (by ordinal). */
export interface ExternalNodePorts {
  tcp?: number;
  http?: number;
}

/** Per-pod external access to cim-server (like Strimzi's per-broker external listeners). */
export interface ServerExternalSpec {
  type: 'NodePort' | 'LoadBalancer';
  /** nodePorts[i] pins the node ports of pod i (NodePort and LoadBalancer). */
  nodePorts?: ExternalNodePorts[];
  /** hosts[i] is the address advertised for pod i instead of the node's or load balancer's. */
  hosts?: string[];
  /** Annotations of every per-pod Service (e.g. a cloud's load-balancer settings). */
  annotations?: Record<string, string>;
}

export interface ServerSpec {
  image: string;
  replicas: number;
  tcpPort: number;
  httpPort: number;
  /** --internal-port: pushes from routes and other servers; on the headless Service only, never on a client-facing one */
  internalPort: number;
  /** --metrics-port: /metrics on a port of its own (scraped via the pod annotations); absent = on httpPort */
  metricsPort?: number;
  heartbeatTimeoutSeconds: number;
  shutdownTimeoutSeconds: number;
  logLevel: LogLevel;
  resources?: V1ResourceRequirements;
  external?: ServerExternalSpec;
}

export type RouteStrategy = 'round-robin' | 'random' | 'least-connections' | 'consistent-hash';

export interface RouteSpec {
  image: string;
  replicas: number;
  port: number;
  /** --metrics-port: /metrics on a port of its own (scraped via the pod annotations, in no Service); absent = on port */
  metricsPort?: number;
  strategy: RouteStrategy;
  service: { type: 'ClusterIP' | 'NodePort' | 'LoadBalancer' };
  logLevel: LogLevel;
  resources?: V1ResourceRequirements;
}

export interface AuthSpec {
  enabled: boolean;
  secretRef?: SecretKeyRef;
}

/** TLS for the servers' HTTP/WebSocket port and the route (a kubernetes.io/tls Secret, e.g. cert-manager's). */
export interface TlsSpec {
  secretName: string;
  /** the Secret has ca.crt, which verifies the servers (cert-manager's CA/self-signed issuers); false: the system CAs */
  caInSecret: boolean;
}

/** A second login of an online user: the components' --login-policy and --max-devices. */
export interface LoginSpec {
  policy: 'reject' | 'takeover' | 'multi';
  maxDevices: number;
}

export interface CimClusterSpec {
  paused: boolean;
  /** imagePullPolicy of every container; IfNotPresent lets locally imported images run. */
  imagePullPolicy: ImagePullPolicy;
  redis: RedisSpec;
  zookeeper: ZookeeperSpec;
  server: ServerSpec;
  route: RouteSpec;
  auth: AuthSpec;
  login: LoginSpec;
  tls?: TlsSpec;
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** metav1.Condition. */
export interface Condition {
  type: string;
  status: ConditionStatus;
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export type Phase = 'Pending' | 'Provisioning' | 'Running' | 'Degraded' | 'Paused';

export interface CimClusterStatus {
  observedGeneration?: number;
  phase?: Phase;
  conditions?: Condition[];
  redis?: { ready: boolean; endpoint: string };
  zookeeper?: { replicas: number; readyReplicas: number; connectString: string };
  server?: { replicas: number; readyReplicas: number; selector: string; external?: ExternalAddress[] };
  route?: { replicas: number; readyReplicas: number; endpoint: string };
}

/** Where clients outside the cluster reach one server pod. */
export interface ExternalAddress {
  pod: string;
  host: string;
  tcpPort: number;
  httpPort: number;
}

export interface CimCluster {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: V1ObjectMeta & { name: string; namespace: string };
  spec: CimClusterSpec;
  status?: CimClusterStatus;
}

/** A spec as a user may write it: every field optional, nested. */
export type CimClusterSpecInput = {
  [K in keyof CimClusterSpec]?: CimClusterSpec[K] extends object ? Partial<CimClusterSpec[K]> : CimClusterSpec[K];
};

const storageDefaults = (s: Partial<StorageSpec> | undefined): StorageSpec => ({ size: '1Gi', ephemeral: false, ...s });
const keyRef = (r: Partial<SecretKeyRef> | undefined, key: string): SecretKeyRef | undefined =>
  r?.name ? { name: r.name, key: r.key ?? key } : undefined;

/** The CRD's schema defaults, applied to a user-written spec (the API server does the same). */
export function withDefaults(spec: CimClusterSpecInput = {}): CimClusterSpec {
  const { redis = {}, zookeeper = {}, server = {}, route = {}, auth = {}, login = {}, tls } = spec;
  const redisPassword = keyRef(redis.passwordSecretRef, 'password');
  const authSecret = keyRef(auth.secretRef, 'auth-secret');
  return {
    paused: spec.paused ?? false,
    imagePullPolicy: spec.imagePullPolicy ?? 'IfNotPresent',
    redis: {
      ...redis,
      image: redis.image ?? 'redis:7.4',
      storage: storageDefaults(redis.storage),
      ...(redisPassword ? { passwordSecretRef: redisPassword } : {}),
      ...(redis.cluster ? { cluster: { shards: redis.cluster.shards ?? 3, replicasPerShard: redis.cluster.replicasPerShard ?? 0 } } : {}),
    },
    zookeeper: {
      ...zookeeper,
      image: zookeeper.image ?? 'zookeeper:3.9',
      replicas: zookeeper.replicas ?? 1,
      storage: storageDefaults(zookeeper.storage),
      root: zookeeper.root ?? '/cim',
    },
    server: {
      ...server,
      image: server.image ?? 'cim-server:0.1.0',
      replicas: server.replicas ?? 2,
      tcpPort: server.tcpPort ?? 11211,
      httpPort: server.httpPort ?? 8081,
      internalPort: server.internalPort ?? 8082,
      heartbeatTimeoutSeconds: server.heartbeatTimeoutSeconds ?? 30,
      shutdownTimeoutSeconds: server.shutdownTimeoutSeconds ?? 10,
      logLevel: server.logLevel ?? 'info',
    },
    route: {
      ...route,
      image: route.image ?? 'cim-route:0.1.0',
      replicas: route.replicas ?? 1,
      port: route.port ?? 8083,
      strategy: route.strategy ?? 'round-robin',
      service: { type: route.service?.type ?? 'ClusterIP' },
      logLevel: route.logLevel ?? 'info',
    },
    auth: { enabled: auth.enabled ?? true, ...(authSecret ? { secretRef: authSecret } : {}) },
    login: { policy: login.policy ?? 'reject', maxDevices: login.maxDevices ?? 5 },
    ...(tls?.secretName ? { tls: { secretName: tls.secretName, caInSecret: tls.caInSecret ?? true } } : {}),
  };
}
