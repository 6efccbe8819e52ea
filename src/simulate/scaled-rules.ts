import { DEFAULT_RULES } from '../engine/rules.config.ts';

// A mesh simulated `speed` times faster than real time sends its windows
// `speed` times closer together on the collector's clock, so every duration
// in the rules shrinks by the same factor: what takes the engine 15 minutes
// to close on a real mesh takes 15/speed minutes on the fast one. Counts and
// thresholds (windows, ms, %) stay as they are.

const DURATION_KEY = /_(min|s)$/;

function scale(value: unknown, key: string, speed: number): unknown {
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scale(v, k, speed)]));
  }
  return typeof value === 'number' && DURATION_KEY.test(key) ? value / speed : value;
}

/** The default rules with every duration divided by `speed` (a RULES_FILE for a collector fed at that speed). */
export function rulesForSpeed(speed: number): Record<string, unknown> {
  return scale(DEFAULT_RULES, '', speed) as Record<string, unknown>;
}

/** Collector settings that go with a simulation at `speed` (besides RULES_FILE). */
export function collectorEnvForSpeed(speed: number): Record<string, string> {
  return {
    ENGINE_INTERVAL: String(Math.max(1, Math.round(10 / speed))),
    REGISTRY_SILENT_AFTER: String(Math.max(1, Math.round(900 / speed))),
  };
}
