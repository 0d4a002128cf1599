/**
 * The operator's Prometheus metrics, cim_operator_<what>_<unit>. Every known label value is set to 0 at start so
 * dashboards show zeros instead of gaps (as controller-runtime's initMetrics does).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const RECONCILE_RESULTS = ['success', 'error', 'requeue_after'] as const;
export type ReconcileResultLabel = (typeof RECONCILE_RESULTS)[number];
export const WATCH_RESTART_REASONS = ['error', 'relist', 'silence'] as const;

export interface OperatorMetrics {
  registry: Registry;
  reconcileTotal: Counter<'result'>;
  reconcileErrorsTotal: Counter;
  reconcileDuration: Histogram;
  statusWritesTotal: Counter;
  workqueueDepth: Gauge;
  workqueueAddsTotal: Counter;
  watchEventsTotal: Counter<'resource' | 'event'>;
  watchRestartsTotal: Counter<'resource' | 'reason'>;
  leader: Gauge;
  leaderTransitionsTotal: Counter;
}

export function createOperatorMetrics(resources: readonly string[]): OperatorMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'cim_operator_' });
  const m: OperatorMetrics = {
    registry,
    reconcileTotal: new Counter({
      name: 'cim_operator_reconcile_total',
      help: 'Reconcile passes by result',
      labelNames: ['result'],
      registers: [registry],
    }),
    reconcileErrorsTotal: new Counter({
      name: 'cim_operator_reconcile_errors_total',
      help: 'Reconcile passes that failed and were retried with backoff',
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: 'cim_operator_reconcile_duration_seconds',
      help: 'Time of one reconcile pass',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    statusWritesTotal: new Counter({
      name: 'cim_operator_status_writes_total',
      help: 'CimCluster status updates (only written when changed)',
      registers: [registry],
    }),
    workqueueDepth: new Gauge({
      name: 'cim_operator_workqueue_depth',
      help: 'Keys waiting in the work queue',
      registers: [registry],
    }),
    workqueueAddsTotal: new Counter({
      name: 'cim_operator_workqueue_adds_total',
      help: 'Keys added to the work queue',
      registers: [registry],
    }),
    watchEventsTotal: new Counter({
      name: 'cim_operator_watch_events_total',
      help: 'Informer events by resource and type',
      labelNames: ['resource', 'event'],
      registers: [registry],
    }),
    watchRestartsTotal: new Counter({
      name: 'cim_operator_watch_restarts_total',
      help: 'Informer restarts: after a watch error, a silent watch, or the periodic full relist',
      labelNames: ['resource', 'reason'],
      registers: [registry],
    }),
    leader: new Gauge({
      name: 'cim_operator_leader',
      help: '1 while this replica holds the leader Lease',
      registers: [registry],
    }),
    leaderTransitionsTotal: new Counter({
      name: 'cim_operator_leader_transitions_total',
      help: 'Times this replica became leader',
      registers: [registry],
    }),
  };
  for (const r of RECONCILE_RESULTS) m.reconcileTotal.inc({ result: r }, 0);
  for (const resource of resources) {
    for (const event of ['add', 'update', 'delete']) m.watchEventsTotal.inc({ resource, event }, 0);
    for (const reason of WATCH_RESTART_REASONS) m.watchRestartsTotal.inc({ resource, reason }, 0);
  }
  m.reconcileErrorsTotal.inc(0);
  m.statusWritesTotal.inc(0);
  m.workqueueAddsTotal.inc(0);
  m.workqueueDepth.set(0);
  m.leader.set(0);
  m.leaderTransitionsTotal.inc(0);
  return m;
}
