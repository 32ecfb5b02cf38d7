import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Resolve `ssehub/*` self-imports to the TypeScript sources, not to dist/.
    conditions: ['ssehub-source'],
  },
  test: {
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    reporters: process.env.CI ? ['verbose'] : ['default'],
  },
});
