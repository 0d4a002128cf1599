/**
 * The route's own account of its /login calls, from its request-duration histogram
 * (cim_http_request_duration_seconds, POST …/login, every status): what the route spent, without the
 * load generator's own delays, which a storm on this box inflates.
 */

/** Cumulative call counts by bucket upper bound (seconds; Infinity for +Inf). */
export type Buckets = ReadonlyMap<number, number>;

const BUCKET_LINE = /^cim_http_request_duration_seconds_bucket\{([^}]*)\} (\S+)$/;

/** Parses a /metrics text; the counts of every POST …/login series are added up. */
export function loginBuckets(metricsText: string): Buckets {
  const sums = new Map<number, number>();
  for (const line of metricsText.split('\n')) {
    const m = BUCKET_LINE.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]));
    if (labels['method'] !== 'POST' || !labels['route']?.endsWith('/login') || labels['le'] === undefined) continue;
    const le = labels['le'] === '+Inf' ? Infinity : Number(labels['le']);
    sums.set(le, (sums.get(le) ?? 0) + Number(m[2]));
  }
  return sums;
}

/** Fetches the route's histogram; undefined when its /metrics cannot be read (another deployment, --metrics-port). */
export async function fetchLoginBuckets(routeUrl: string): Promise<Buckets | undefined> {
  try {
    const res = await fetch(new URL('/metrics', routeUrl), { signal: AbortSignal.timeout(5000) });
    return res.ok ? loginBuckets(await res.text()) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The upper bound (ms) of the bucket holding quantile q of the calls made between two scrapes: "p99 ≤ this".
 * Infinity past the last finite bound; undefined when there were no calls.
 */
export function quantileBound(before: Buckets, after: Buckets, q: number): number | undefined {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const delta = (le: number) => (after.get(le) ?? 0) - (before.get(le) ?? 0);
  const total = delta(Infinity);
  if (!(total > 0)) return undefined;
  const le = bounds.find((b) => delta(b) >= q * total)!;
  return le * 1000;
}
