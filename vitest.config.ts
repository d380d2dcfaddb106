import { defineConfig } from 'vitest/config';

// Two projects in one run: igdm's own tests (Node; test/web/ drives the built inbox in Chromium)
// and the inbox's component tests (web/src/**/*.test.ts[x], in happy-dom, with web's Vite config).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'igdm',
          include: ['test/**/*.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
          pool: 'forks',
        },
      },
      './web/vitest.config.ts',
    ],
  },
});
