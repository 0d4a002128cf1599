/**
 * `cim operator`: the shell around the controller. Parses options, loads the kubeconfig (in-cluster or a file),
 * serves probes and metrics, campaigns for the leader Lease and runs the controller only while leading. Returns
 * on SIGTERM/SIGINT after stopping the workers and releasing the Lease (0), or when leadership is lost (1: the
 * pod restarts and campaigns again, as client-go operators do).
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { createLogger, LOG_LEVELS, type LogLevel } from '../../services/common/src/log.ts';
import { HelpRequested, OptionsError, parseOptions, type OptionSpecs } from '../../services/common/src/options.ts';
import { Controller, RESOURCE_NAMES } from './controller.ts';
import { createKubeApi } from './kube-api.ts';
import { LeaderElector } from './leader.ts';
import { createOperatorMetrics } from './metrics.ts';
import { startProbeServer } from './http.ts';

const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export const OPERATOR_OPTIONS = {
  host: { type: 'string', default: '0.0.0.0', description: 'address of the probe and metrics server' },
  httpPort: { type: 'int', default: 8080, min: 0, max: 65535, description: 'port of /healthz, /readyz, /metrics (0 = any)' },
  kubeconfig: { type: 'string', optional: true, description: 'kubeconfig file; default: in-cluster, then $KUBECONFIG' },
  watchNamespace: { type: 'string', optional: true, description: 'watch only this namespace (default: all)' },
  workers: { type: 'int', default: 2, min: 1, max: 64, description: 'clusters reconciled concurrently' },
  resyncPeriod: { type: 'int', default: 300, min: 1, description: 'seconds between full re-reconciles of every cluster' },
  relistPeriod: { type: 'int', default: 600, min: 1, description: 'seconds between full relists of every watch' },
  leaderElect: { type: 'boolean', default: true, description: 'campaign for a Lease; off only for a single replica' },
  leaseName: { type: 'string', default: 'cim-operator', description: 'name of the leader Lease' },
  leaseNamespace: { type: 'string', optional: true, description: "Lease namespace (default: the pod's namespace)" },
  identity: { type: 'string', optional: true, description: 'holder identity (default: the pod name / hostname)' },
  leaseDuration: { type: 'number', default: 15, min: 1, description: 'seconds a Lease is valid without renewal' },
  renewDeadline: { type: 'number', default: 10, min: 0.5, description: 'seconds the leader keeps trying to renew' },
  retryPeriod: { type: 'number', default: 2, min: 0.1, description: 'seconds between Lease attempts' },
  logLevel: { type: 'string', default: 'info', choices: LOG_LEVELS, description: 'log level' },
} satisfies OptionSpecs;

function loadKubeConfig(file: string | undefined, env: NodeJS.ProcessEnv): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else if (env['KUBERNETES_SERVICE_HOST']) kc.loadFromCluster();
  else if (env['KUBECONFIG']) kc.loadFromFile(env['KUBECONFIG']);
  else kc.loadFromDefault();
  return kc;
}

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let o;
  try {
    o = parseOptions(OPERATOR_OPTIONS, argv, env, {
      command: 'cim operator',
      summary: 'Reconcile CimCluster resources into Redis, ZooKeeper, cim-server and cim-route.',
    }).options;
  } catch (err) {
    if (err instanceof HelpRequested) {
      process.stdout.write(`${err.text}\n`);
      return 0;
    }
    if (err instanceof OptionsError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (o.leaderElect && !(o.retryPeriod < o.renewDeadline && o.renewDeadline < o.leaseDuration)) {
    process.stderr.write('--retry-period < --renew-deadline < --lease-duration must hold, or two leaders could overlap\n');
    return 2;
  }
  const log = createLogger('cim-operator', o.logLevel as LogLevel);
  const identity = o.identity ?? env['POD_NAME'] ?? `${hostname()}-${process.pid}`;
  const leaseNamespace =
    o.leaseNamespace ?? (existsSync(SA_NAMESPACE_FILE) ? readFileSync(SA_NAMESPACE_FILE, 'utf8').trim() : 'default');

  const kc = loadKubeConfig(o.kubeconfig, env);
  const metrics = createOperatorMetrics(RESOURCE_NAMES);
  const controller = new Controller({
    kc,
    api: createKubeApi(kc, identity),
    log,
    metrics,
    workers: o.workers,
    resyncPeriodMs: o.resyncPeriod * 1000,
    relistPeriodMs: o.relistPeriod * 1000,
    ...(o.watchNamespace ? { namespace: o.watchNamespace } : {}),
  });

  let exitCode = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));

  const probes = await startProbeServer({
    host: o.host,
    port: o.httpPort,
    registry: metrics.registry,
    // A standby is healthy and ready: it is doing its job (waiting). A leader is ready once its caches synced.
    isReady: () => !controller.isStarted || controller.isSynced,
  });
  log.info({ port: probes.port, identity }, 'probe server listening');

  const startLeading = () => {
    metrics.leader.set(1);
    metrics.leaderTransitionsTotal.inc();
    controller.start().catch((err: unknown) => {
      log.error({ err }, 'controller failed to start');
      exitCode = 1;
      finish();
    });
  };
  const elector = o.leaderElect
    ? new LeaderElector(kc, {
        namespace: leaseNamespace,
        name: o.leaseName,
        identity,
        leaseDurationMs: o.leaseDuration * 1000,
        renewDeadlineMs: o.renewDeadline * 1000,
        retryPeriodMs: o.retryPeriod * 1000,
        log,
        onStartedLeading: startLeading,
        onStoppedLeading: () => {
          // Another replica may already be reconciling: stop at once and let the pod restart.
          metrics.leader.set(0);
          exitCode = 1;
          finish();
        },
      })
    : undefined;
  if (elector) {
    log.info({ lease: `${leaseNamespace}/${o.leaseName}`, identity }, 'waiting for leadership');
    elector.run().catch((err: unknown) => {
      log.error({ err }, 'leader election failed');
      exitCode = 1;
      finish();
    });
  } else {
    startLeading();
  }

  const onSignal = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'shutting down');
    finish();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  await finished;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);

  await controller.stop();
  await elector?.stop();
  metrics.leader.set(0);
  await probes.close();
  log.info({ exitCode }, 'stopped');
  return exitCode;
}
