import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * One prom-client registry per service instance (several instances share a process in embedded
 * mode and in tests). Names follow cim_<component>_<what>_<unit>, counters end in _total.
 */
export function createMetricsRegistry(component: string, withProcessMetrics = true): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ component });
  if (withProcessMetrics) collectDefaultMetrics({ register: registry, prefix: 'cim_' });
  return registry;
}
