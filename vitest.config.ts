import { defineConfig } from 'vitest/config';

// Three tiers, sorted by what they start: unit tests start nothing; integration tests start real
// redis-server and ZooKeeper processes (test/harness); e2e tests start a real kube-apiserver.
const isCI = process.env['CI'] === 'true';
// The real-node journey (test/e2e-node) needs root and cached node builds: `make test` runs it as its own stage after
// the other tiers (and `make test-node` alone), never alongside them.
const withNode = process.env['CIM_E2E_NODE'] === '1';

export default defineConfig({
  test: {
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          expect: { poll: { timeout: 5_000 } },
          include: ['services/**/*.test.ts', 'operator/**/*.test.ts', 'test/*.test.ts'],
          testTimeout: 10_000,
        },
      },
      {
        test: {
          name: 'integration',
          // Watches, evictions and pushes usually land in milliseconds; the bound is for loaded CI machines.
          expect: { poll: { timeout: 10_000, interval: 50 } },
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: isCI ? 90_000 : 60_000,
          hookTimeout: isCI ? 120_000 : 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          // Builds the Kubernetes tools when missing (slow once, cached), then starts etcd, kube-apiserver,
          // kube-controller-manager, kube-scheduler and kwok for the whole project.
          globalSetup: ['test/e2e/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 600_000,
          fileParallelism: false,
        },
      },
      ...(withNode
        ? [
            {
              test: {
                name: 'e2e-node',
                include: ['test/e2e-node/**/*.test.ts'],
                // Builds the node tools and images when missing (slow once, cached), then a control plane and a real node.
                globalSetup: ['test/e2e-node/global-setup.ts'],
                testTimeout: 600_000,
                hookTimeout: 90 * 60_000,
                fileParallelism: false,
              },
            },
          ]
        : []),
    ],
  },
});
