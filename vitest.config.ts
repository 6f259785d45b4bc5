import { defineConfig } from 'vitest/config'

// Tests run against `src` through the `@switchyard/source` export condition, so no build is needed.
// Three projects: `unit` (pure logic and the in-memory transport, parallel), `integration`
// (`*.integration.test.ts`, real brokers started by `npm run brokers -- up`, one file at a time
// because some scenarios restart a broker) and `cluster` (`*.cluster.integration.test.ts`, run in a
// private network namespace, see below).
const conditions = ['@switchyard/source', 'node', 'import', 'default']
// Vitest also hands the SSR conditions to its workers as Node's `--conditions` flags. `import` there
// would make a CommonJS `require` pick a dependency's ESM build (pg's `require('pg-pool')` then gets
// a module namespace, not a class), so the SSR list names only ours; Vite adds import/require itself.
const ssrConditions = ['@switchyard/source', 'node']

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions: ssrConditions, externalConditions: ['@switchyard/source'] } },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts', 'examples/*/src/**/*.test.ts', 'test/*/src/**/*.test.ts'],
          exclude: ['**/*.integration.test.ts', '**/node_modules/**', '**/dist/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: [
            'packages/*/src/**/*.integration.test.ts',
            'examples/*/src/**/*.integration.test.ts',
            'test/*/src/**/*.integration.test.ts',
          ],
          exclude: ['**/*.cluster.integration.test.ts', '**/node_modules/**', '**/dist/**'],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        // The three-node cluster scenarios (kill -9, network cut). They start their own cluster and
        // cut nodes off the network with nftables, so they run in a private network namespace:
        // `bash scripts/in-netns.sh npx vitest run --project cluster` (root; `npm test` does it).
        extends: true,
        test: {
          name: 'cluster',
          include: [
            'packages/*/src/**/*.cluster.integration.test.ts',
            'test/*/src/**/*.cluster.integration.test.ts',
          ],
          exclude: ['**/node_modules/**', '**/dist/**'],
          fileParallelism: false,
          testTimeout: 420_000,
          hookTimeout: 240_000,
        },
      },
    ],
  },
})
