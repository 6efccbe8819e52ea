import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const positiveInt = z.coerce.number().int().positive();
const days = z.coerce.number().positive();

/** A croner pattern; checked for shape here, for meaning when the job is scheduled. */
const cronPattern = z.string().trim().regex(/^(\S+\s+){4,5}\S+$/, 'must be a cron pattern with 5 or 6 fields');

function parsesAsUrl(v: string): boolean {
  try {
    new URL(v);
    return true;
  } catch {
    return false;
  }
}

const httpUrl = z
  .string()
  .trim()
  .regex(/^https?:\/\//, 'must be an http:// or https:// URL')
  .refine(parsesAsUrl, 'is not a valid URL');

const Env = z.object({
  DATABASE_URL: z
    .string()
    .trim()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .refine(parsesAsUrl, 'is not a valid URL (percent-encode special characters in the password)')
    .optional(),
  /** auto: use TimescaleDB when the server has it; off: plain tables even when it has. */
  TIMESCALEDB: z.enum(['auto', 'off']).default('auto'),
  /**
   * About the CPU count: more backends than cores only queue inside the
   * kernel, and their scheduling is what makes a loaded API's slowest answers slow.
   */
  DATABASE_POOL_SIZE: positiveInt.max(100).default(4),
  /** Seconds start-up keeps retrying a database that does not answer yet (after a reboot, the container may start first). */
  DATABASE_STARTUP_TIMEOUT: z.coerce.number().nonnegative().max(3600).default(60),
  HOST: z.string().trim().min(1).default('0.0.0.0'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Seconds a stopping collector waits for in-flight requests and job runs before cutting them off. */
  SHUTDOWN_TIMEOUT: z.coerce.number().nonnegative().max(300).default(10),
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error', 'silent']).default('info'),
  DATA_DIR: z.string().trim().min(1).default('./data'),
  EMBEDDED_PG_PORT: z.coerce.number().int().min(1).max(65535).default(54329),

  MAX_BODY_BYTES: positiveInt.default(1024 * 1024),
  MAX_BATCH_MESSAGES: positiveInt.default(5000),
  /**
   * Seconds a sent_at may lie ahead of the receive time and still be trusted;
   * beyond it (or older than the retention, or before 2000) the node's times
   * are corrected by its clock offset.
   */
  MAX_CLOCK_SKEW: z.coerce.number().nonnegative().default(300),
  /**
   * Most nodes the registry takes; messages from new nodes beyond it are
   * dropped. The largest AREDN meshes hold a few thousand nodes.
   */
  MAX_NODES: positiveInt.max(1_000_000).default(5000),
  /**
   * Reverse DNS for mesh addresses the agents name hops by: `system` (the
   * host's resolver, on the mesh an AREDN node), `off`, or `ADDRESS[:PORT]`
   * of a DNS server (an AREDN node answers PTR for mesh addresses).
   */
  MESH_DNS: z
    .string()
    .trim()
    .regex(/^(system|off|\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?|\[[0-9a-fA-F:]+\](:\d{1,5})?)$/, 'must be system, off, or a DNS server as ADDRESS[:PORT]')
    .default('system'),

  ENGINE_ENABLED: bool.default(true),
  /** Seconds between Issue Engine ticks. */
  ENGINE_INTERVAL: z.coerce.number().int().min(1).max(3600).default(10),
  RULES_FILE: z.string().trim().min(1).optional(),

  CORS_ORIGINS: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((o) => o.trim()).filter(Boolean)),
  API_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Keep /issues answers between two incident changes (NOTIFY-invalidated); false: every request reads. */
  API_CACHE: bool.default(true),
  INGEST_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Bearer token of the write API (acknowledge, notes, maintenance windows); unset: writes answer 403. */
  OPERATOR_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Where people reach the collector (its panel pages); links in notifications are built on it. */
  PUBLIC_URL: httpUrl.transform((u) => u.replace(/\/+$/, '')).optional(),

  /** Alertmanager's base URL; unset: no notifications are pushed. */
  ALERTMANAGER_URL: httpUrl.transform((u) => u.replace(/\/+$/, '')).optional(),
  /** Seconds between two runs of the Alertmanager job (new, changed and closed incidents go out at the next run). */
  ALERTMANAGER_INTERVAL: z.coerce.number().int().min(1).max(3600).default(10),
  /** Seconds between two sends of a still-firing alert; its endsAt lies 4 of these ahead. */
  ALERTMANAGER_RESEND: z.coerce.number().int().min(5).max(3600).default(60),
  /** Seconds one POST to Alertmanager may take before it counts as failed. */
  ALERTMANAGER_TIMEOUT: z.coerce.number().positive().max(60).default(5),

  /**
   * Who may show the panel and /docs in a frame: CSP frame-ancestors sources,
   * space- or comma-separated (e.g. https://openwisp.example.org). 'self' by default.
   */
  PANEL_FRAME_ANCESTORS: z
    .string()
    .default("'self'")
    .transform((s) => s.split(/[\s,]+/).filter(Boolean))
    .refine((xs) => xs.length > 0 && xs.every((x) => /^('self'|'none'|\*|https?:\/\/[^\s;'"]+|https?:|[a-z0-9*.-]+(:\d+)?)$/i.test(x)), {
      message: "must be CSP frame-ancestors sources: 'self', 'none' or origins such as https://openwisp.example.org",
    }),
  /** Seconds between the panel's checks for news (each costs a 304 when nothing changed). */
  PANEL_REFRESH: z.coerce.number().int().min(2).max(3600).default(15),

  /** Seconds without a message after which /registry calls a node silent. */
  REGISTRY_SILENT_AFTER: positiveInt.default(900),

  RETENTION_RAW_DAYS: days.default(90),
  RETENTION_ROLLUP_DAYS: days.default(365),
  RETENTION_INCIDENT_DAYS: days.default(365),
  COMPRESS_AFTER_DAYS: days.default(7),
  MAINTENANCE_CRON: cronPattern.default('17 * * * *'),
  ROLLUP_CRON: cronPattern.default('*/5 * * * *'),
});

export type Config = Readonly<z.infer<typeof Env>>;

/** Every variable the collector reads (README.md and .env.example document each). */
export const CONFIG_VARIABLES: readonly string[] = Object.freeze(Object.keys(Env.shape));

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment once; every bad variable is named in the error. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const known = Object.fromEntries(
    // A variable set to nothing (`PORT=` in .env) means "use the default".
    CONFIG_VARIABLES.map((k) => [k, env[k]?.trim() === '' ? undefined : env[k]]),
  );
  const parsed = Env.safeParse(known);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => `${i.path.join('.') || '(environment)'}: ${i.message}`),
    );
  }
  for (const v of Object.values(parsed.data)) if (Array.isArray(v)) Object.freeze(v);
  return Object.freeze(parsed.data);
}

/** Defaults for tests and tools that build a config in code. */
export function configFrom(overrides: Partial<Record<keyof z.infer<typeof Env>, string>> = {}): Config {
  return loadConfig({ ...overrides });
}
