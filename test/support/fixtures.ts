import path from 'node:path';

// Copies of ../shared/spec/examples and ../shared/scenarios ship in
// test/fixtures so the suite runs from a lone clone; CI points these at the
// shared originals.
export const EXAMPLES_DIR = process.env.MESHMON_EXAMPLES_DIR ?? path.resolve(import.meta.dir, '../fixtures/examples');
export const SCENARIOS_DIR = process.env.MESHMON_SCENARIOS_DIR ?? path.resolve(import.meta.dir, '../fixtures/scenarios');

export async function example<T = Record<string, unknown>>(name: string): Promise<T> {
  return (await Bun.file(path.join(EXAMPLES_DIR, name.endsWith('.json') ? name : `${name}.json`)).json()) as T;
}

export function scenarioPath(name: string): string {
  return path.join(SCENARIOS_DIR, `${name}.ndjson.gz`);
}

export async function scenarioTruth(name: string): Promise<{ meta: Record<string, unknown>; expected: Array<Record<string, unknown>> }> {
  return Bun.file(path.join(SCENARIOS_DIR, `${name}.truth.json`)).json();
}
