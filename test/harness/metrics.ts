/** A sample of a component's Prometheus text at `metricsUrl`: the first one named `name` having every label of `labels`; NaN when none. */
export async function metricSample(metricsUrl: string, name: string, labels: readonly string[] = []): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.every((label) => l.includes(label)));
  return Number(line?.split(' ').pop() ?? Number.NaN);
}
