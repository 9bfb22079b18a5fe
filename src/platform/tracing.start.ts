import { startTracing } from './tracing.js';

/**
 * Tracing as the OTEL_* variables ask, started as this module is evaluated. main.ts imports it
 * before anything else, so the pg and ioredis instrumentations are in place before those load.
 */
export const tracing = startTracing(process.env);
