/**
 * The V8 flags cim-server runs with: Dockerfile.server sets them as NODE_OPTIONS, and the local clusters of
 * process-cluster.ts (integration tests, `cim bench`) pass the same, so what is measured is what ships.
 *
 * --max-semi-space-size=16: after a burst of logins V8 grows the young generation to its maximum (128 MiB on
 * a machine with this much memory) and keeps it while traffic lasts, ~24 KiB of RSS per connection at
 * 4,000 clients. Capped at 16 MiB it costs about 3 % of the private-message ceiling (docs/benchmarks.md).
 */
export const SERVER_NODE_OPTIONS = '--max-semi-space-size=16';
