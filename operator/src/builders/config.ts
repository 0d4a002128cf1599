import type { V1ConfigMap, V1EnvVar, V1Secret } from '@kubernetes/client-node';
import type { CimCluster, SecretKeyRef } from '../api/types.ts';
import { childNames, objectMeta } from './common.ts';
import { redisPasswordEnv, redisUrl } from './redis.ts';
import { zookeeperConnectString } from './zookeeper.ts';

export const AUTH_SECRET_KEY = 'auth-secret';

/** Settings shared by cim-server and cim-route, read with envFrom (every cim option is a CIM_… variable). */
export function configData(cr: CimCluster): Record<string, string> {
  return {
    CIM_ZK_CONNECT: zookeeperConnectString(cr),
    CIM_ZK_ROOT: cr.spec.zookeeper.root,
    CIM_REDIS_URL: redisUrl(cr),
    // Servers and routes must agree on how a second login is handled.
    CIM_LOGIN_POLICY: cr.spec.login.policy,
    CIM_MAX_DEVICES: String(cr.spec.login.maxDevices),
  };
}

export function buildConfigMap(cr: CimCluster): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: objectMeta(cr, childNames(cr).config, 'config'),
    data: configData(cr),
  };
}

/** The Secret holding the shared key: always, since pushes to servers are authenticated with it in every auth mode. */
export function authSecretRef(cr: CimCluster): SecretKeyRef {
  return cr.spec.auth.secretRef ?? { name: childNames(cr).auth, key: AUTH_SECRET_KEY };
}

/** Whether the operator owns (generates) the auth Secret, rather than the user. */
export function isAuthSecretGenerated(cr: CimCluster): boolean {
  return cr.spec.auth.secretRef === undefined;
}

/**
 * The generated auth Secret. `key` is injected (random bytes in production) so the builder stays pure.
 * It is created once and never applied again: re-applying would rotate the key and log every user out.
 */
export function buildAuthSecret(cr: CimCluster, key: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: objectMeta(cr, childNames(cr).auth, 'auth'),
    type: 'Opaque',
    stringData: { [AUTH_SECRET_KEY]: key },
  };
}

/** Secret-backed environment common to cim-server and cim-route. */
export function secretEnv(cr: CimCluster): V1EnvVar[] {
  const auth = authSecretRef(cr);
  return [
    ...redisPasswordEnv(cr, 'CIM_REDIS_PASSWORD'),
    // auth.enabled: password mode (passwords, tokens); disabled: CIM's open logins. Pushes need the key in both.
    { name: 'CIM_AUTH', value: cr.spec.auth.enabled ? 'password' : 'cim' },
    { name: 'CIM_AUTH_SECRET', valueFrom: { secretKeyRef: { name: auth.name, key: auth.key } } },
  ];
}
