import { defineProject, mergeConfig } from 'vitest/config';
import viteConfig from './vite.config.ts';

// The inbox's component tests: the app's own Vite config (React), in happy-dom.
export default mergeConfig(
  viteConfig,
  defineProject({
    test: {
      name: 'web',
      include: ['src/**/*.test.{ts,tsx}'],
      environment: 'happy-dom',
      // With igdm's files that leave PostgreSQL alone, two at a time (../vitest.config.ts).
      sequence: { groupOrder: 0 },
      maxWorkers: 2,
    },
  }),
);
