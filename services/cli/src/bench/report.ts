/** The markdown table `cim bench` prints. */
import type { ScenarioResult } from './scenarios.ts';
import type { LatencySummary } from './stats.ts';

const ms = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? `${v.toFixed(v < 10 ? 2 : 1)} ms` : 'n/a');

function cpu(r: ScenarioResult): string {
  const entries = Object.entries(r.clusterCpu).filter(([, v]) => Number.isFinite(v));
  if (entries.length === 0) return 'n/a';
  const total = entries.reduce((s, [, v]) => s + v, 0);
  return `${total.toFixed(2)} (${entries.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')})`;
}

export const formatLatency = (l: LatencySummary): string => `p50 ${ms(l.p50)}, p99 ${ms(l.p99)}, p99.9 ${ms(l.p999)}, max ${ms(l.max)}`;

export function formatTable(results: readonly ScenarioResult[]): string {
  const lines = ['| scenario | what | result | latency | cluster CPU (cores) | generator CPU (cores) |', '|---|---|---|---|---|---|'];
  for (const r of results) {
    const l = r.latency;
    const latency = l && l.count > 0 ? `${r.latencyLabel ? `${r.latencyLabel}: ` : ''}${formatLatency(l)}` : 'n/a';
    lines.push(`| ${r.scenario} | ${r.description} | ${r.summary} | ${latency} | ${cpu(r)} | ${Number.isFinite(r.generatorCpu) ? r.generatorCpu.toFixed(2) : 'n/a'} |`);
  }
  return lines.join('\n');
}
