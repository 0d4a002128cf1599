import { describe, expect, it } from 'vitest';
import { loginBuckets, quantileBound } from './route-latency.ts';

const scrape = (ok: number[], refused: number[]) =>
  [
    '# HELP cim_http_request_duration_seconds HTTP request duration by route and status code',
    ...['0.01', '0.1', '1', '+Inf'].map((le, i) => `cim_http_request_duration_seconds_bucket{le="${le}",method="POST",route="/login",status_code="200"} ${ok[i]}`),
    ...['0.01', '0.1', '1', '+Inf'].map((le, i) => `cim_http_request_duration_seconds_bucket{le="${le}",method="POST",route="/login",status_code="429"} ${refused[i]}`),
    'cim_http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/offLine",status_code="200"} 999',
    'cim_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/login",status_code="200"} 999',
  ].join('\n');

describe('route /login latency from its histogram', () => {
  it('adds up every status of POST /login and nothing else', () => {
    const b = loginBuckets(scrape([1, 2, 3, 4], [10, 10, 10, 10]));
    expect([...b]).toEqual([[0.01, 11], [0.1, 12], [1, 13], [Infinity, 14]]);
  });

  it('bounds the quantiles of the calls between two scrapes', () => {
    const before = loginBuckets(scrape([100, 100, 100, 100], [0, 0, 0, 0]));
    // 100 new calls: 90 under 10 ms, 9 more under 100 ms, 1 over 1 s.
    const after = loginBuckets(scrape([190, 199, 199, 200], [0, 0, 0, 0]));
    expect(quantileBound(before, after, 0.5)).toBe(10);
    expect(quantileBound(before, after, 0.9)).toBe(10);
    expect(quantileBound(before, after, 0.99)).toBe(100);
    expect(quantileBound(before, after, 1)).toBe(Infinity);
    expect(quantileBound(after, after, 0.99)).toBeUndefined();
  });
});
