import { defineConfig } from 'vitest/config';

// Boot tests (*.boot.test.ts) start QEMU guests; `npm run test:fast` leaves them out.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 600_000,
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
  },
});
