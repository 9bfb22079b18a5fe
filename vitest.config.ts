import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      // main.ts is exercised by the CI smoke run, not in-process; the Kafka adapter only where a
      // Kafka broker exists (KAFKA_BROKERS), which no machine of this project has.
      exclude: ['src/main.ts', 'src/types/**', ...(process.env.KAFKA_BROKERS ? [] : ['src/modules/events/broker.kafka.ts'])],
      reporter: ['text-summary', 'text'],
      thresholds: { lines: 80 },
    },
  },
});
