import { describe, expect, test } from 'bun:test';
import { ConfigError, configFrom, loadConfig } from '../../src/config.ts';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  test('an empty environment gives the documented defaults', () => {
    const c = loadConfig({});
    expect(c.DATABASE_URL).toBeUndefined();
    expect(c.TIMESCALEDB).toBe('auto');
    expect(c.HOST).toBe('0.0.0.0');
    expect(c.PORT).toBe(8080);
    expect(c.DATA_DIR).toBe('./data');
    expect(c.EMBEDDED_PG_PORT).toBe(54329);
    expect(c.DATABASE_POOL_SIZE).toBe(4);
    expect(c.DATABASE_STARTUP_TIMEOUT).toBe(60);
    expect(c.SHUTDOWN_TIMEOUT).toBe(10);
    expect(c.LOG_LEVEL).toBe('info');
    expect(c.ENGINE_ENABLED).toBe(true);
    expect(c.CORS_ORIGINS).toEqual([]);
    expect(c.API_TOKEN).toBeUndefined();
    expect(c.INGEST_TOKEN).toBeUndefined();
  });

  test('values are parsed into their types', () => {
    const c = loadConfig({
      DATABASE_URL: 'postgres://meshmon:secret@db:5432/meshmon',
      PORT: '9090',
      ENGINE_ENABLED: 'no',
      CORS_ORIGINS: 'http://a.local, http://b.local,',
      TIMESCALEDB: 'off',
    });
    expect(c.DATABASE_URL).toBe('postgres://meshmon:secret@db:5432/meshmon');
    expect(c.PORT).toBe(9090);
    expect(c.ENGINE_ENABLED).toBe(false);
    expect(c.CORS_ORIGINS).toEqual(['http://a.local', 'http://b.local']);
    expect(c.TIMESCALEDB).toBe('off');
  });

  test('a variable set to nothing means its default (PORT= in .env)', () => {
    const c = loadConfig({ PORT: '', DATABASE_URL: '', LOG_LEVEL: '  ' });
    expect(c.PORT).toBe(8080);
    expect(c.DATABASE_URL).toBeUndefined();
    expect(c.LOG_LEVEL).toBe('info');
  });

  test('variables it does not know are ignored', () => {
    expect(loadConfig({ PATH: '/usr/bin', HOME: '/root' }).PORT).toBe(8080);
  });

  const bad: Array<[string, string]> = [
    ['DATABASE_URL', 'mysql://db/meshmon'],
    ['DATABASE_URL', 'postgres://[broken'],
    ['TIMESCALEDB', 'yes'],
    ['DATABASE_POOL_SIZE', '0'],
    ['DATABASE_POOL_SIZE', '1000'],
    ['DATABASE_STARTUP_TIMEOUT', '-1'],
    ['SHUTDOWN_TIMEOUT', 'soon'],
    ['PORT', 'http'],
    ['PORT', '70000'],
    ['PORT', '80.5'],
    ['LOG_LEVEL', 'verbose'],
    ['EMBEDDED_PG_PORT', '0'],
    ['MAX_BODY_BYTES', '-5'],
    ['MAX_BATCH_MESSAGES', 'many'],
    ['MAX_CLOCK_SKEW', '-1'],
    ['ENGINE_ENABLED', 'maybe'],
    ['ENGINE_INTERVAL', '0'],
    ['API_TOKEN', 'short'],
    ['INGEST_TOKEN', 'short'],
    ['REGISTRY_SILENT_AFTER', '0'],
    ['RETENTION_RAW_DAYS', '0'],
    ['COMPRESS_AFTER_DAYS', 'week'],
    ['MAINTENANCE_CRON', 'hourly'],
    ['ROLLUP_CRON', '* *'],
  ];
  for (const [name, value] of bad) {
    test(`${name}=${value} is rejected, naming ${name}`, () => {
      const problems = problemsOf({ [name]: value });
      expect(problems).toHaveLength(1);
      expect(problems[0]!.startsWith(`${name}: `)).toBe(true);
    });
  }

  test('every bad variable is named at once, and the values are not echoed', () => {
    const err = (() => {
      try {
        loadConfig({ PORT: 'x', LOG_LEVEL: 'loud', API_TOKEN: 'hunter2' });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('expected a ConfigError');
    })();
    expect(err.problems.map((p) => p.split(':')[0]).sort()).toEqual(['API_TOKEN', 'LOG_LEVEL', 'PORT']);
    expect(err.message).not.toContain('hunter2');
  });

  test('the result is frozen, lists included', () => {
    const c = configFrom({ CORS_ORIGINS: 'http://a.local' });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.CORS_ORIGINS)).toBe(true);
    expect(() => { (c as { PORT: number }).PORT = 1; }).toThrow();
    expect(() => { (c.CORS_ORIGINS as string[]).push('x'); }).toThrow();
  });
});
