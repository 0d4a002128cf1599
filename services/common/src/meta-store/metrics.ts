/**
 * Prometheus view of a MetaStore's event counters (MetaStore.stats), read at scrape time so the store
 * needs no registry of its own. Names follow cim_<what>_total; the registry's default label tells
 * the component.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { META_STORE_EVENT_KINDS, type MetaStore } from './types.ts';

export function registerMetaStoreMetrics(registry: Registry, meta: MetaStore): void {
  const stats = meta.stats?.bind(meta);
  if (!stats) return;
  new Counter({
    name: 'cim_zookeeper_reconnects_total',
    help: 'ZooKeeper clients replaced by a new one (no session in time, session lost or expired)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(Math.max(0, stats().connect_attempt - 1));
    },
  });
  new Counter({
    name: 'cim_zookeeper_events_total',
    help: 'ZooKeeper connection and sync events by kind (see MetaStoreEventKind)',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      const now = stats();
      this.reset();
      for (const kind of META_STORE_EVENT_KINDS) this.inc({ kind }, now[kind]);
    },
  });
  new Gauge({
    name: 'cim_zookeeper_ready',
    help: '1 when registered and watching on a live ZooKeeper session',
    registers: [registry],
    collect() {
      this.set(meta.isReady() ? 1 : 0);
    },
  });
}
