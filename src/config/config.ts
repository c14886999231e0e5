import { accessSync, constants, statSync } from 'node:fs';
import { z } from 'zod';
import { assetCatalog, DEFAULT_ASSETS, parseAmount, PARTITION_COUNT_DEFAULT, PARTITION_COUNT_MAX } from '../ledger/index.js';
import { FAILPOINTS } from '../shards/failpoints.js';

/**
 * Configuration comes from environment variables only, validated at start-up. A bad value stops the
 * service with one line per problem naming the variable, what it holds and what it should hold.
 */
const postgresUrl = z
  .string()
  .refine((value) => /^postgres(ql)?:\/\//.test(value) && URL.canParse(value), 'a postgres:// URL such as postgres://postgres@127.0.0.1:5432/potledger');
const natsUrl = z
  .string()
  .refine((value) => /^(nats|tls):\/\//.test(value) && URL.canParse(value), 'a nats:// URL such as nats://127.0.0.1:4222');
const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^[0-9]+$/, 'a whole number')
    .transform(Number)
    .refine((value) => value >= min && value <= max, `a whole number from ${min} to ${max}`);
/** `ASSET=amount,…`: every asset known, every amount exact at the asset's scale. */
const thresholds = z.string().transform((text, ctx) => {
  const assets = assetCatalog(DEFAULT_ASSETS);
  const parsed = new Map<string, bigint>();
  for (const part of text.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const [code = '', amount = ''] = part.split('=');
    const scale = assets.find(code)?.scale;
    const value = scale === undefined ? undefined : parseAmount(amount, scale, { zero: true });
    if (scale === undefined || value === undefined || !value.ok || parsed.has(code)) {
      ctx.addIssue({
        code: 'custom',
        message: `ASSET=amount pairs separated by commas, such as GBP=10000.00 (each asset known, once, its amount exact at its scale); "${part}" is not one`,
      });
      return z.NEVER;
    }
    parsed.set(code, value.value);
  }
  return parsed;
});
/** A PEM file the process can read, checked at start-up so a wrong path fails there, by name. */
const pemFile = z.string().refine((path) => {
  try {
    accessSync(path, constants.R_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}, 'the path of a readable PEM file; there is none (or it cannot be read)');
const roleName = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a Postgres role name: lower-case letters, digits and _');

export const configSchema = z.object({
  /** The schema owner's connection: migrations run with it. */
  DATABASE_URL: postgresUrl,
  /** The role the service writes with: may insert into the journal, never change or delete it. */
  DATABASE_SERVICE_ROLE: roleName.default('potledger_service'),
  /** Its password, when the server asks for one (docker compose); none with trust authentication. */
  DATABASE_SERVICE_PASSWORD: z.string().min(1).optional(),
  /**
   * The login role the report routes read with (GET /balance-sheet, /reports/top-investors, /recon/…):
   * a member of potledger_reader, so it can read and never write. Created at start-up like the service role.
   */
  DATABASE_READER_ROLE: roleName.default('potledger_reports'),
  /** Its password, when the server asks for one; none with trust authentication. */
  DATABASE_READER_PASSWORD: z.string().min(1).optional(),
  /** Connections the service keeps to Postgres (shard reads and group commits share them). */
  DATABASE_POOL_MAX: wholeNumber(2, 500).default(20),
  /**
   * Postgres ends a service session idle inside a transaction this long: a worker frozen mid-commit
   * then releases its partitions' row locks, and the next owner's claim goes through.
   */
  DATABASE_IDLE_IN_TRANSACTION_MS: wholeNumber(1000, 600_000).default(5000),
  NATS_URL: natsUrl.default('nats://127.0.0.1:4222'),
  /** The NATS user to log in as (`worker` for the service; see src/config/nats-permissions.ts), with NATS_PASSWORD; none: no login. */
  NATS_USER: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'a NATS user name: lower-case letters, digits, _ and -').optional(),
  NATS_PASSWORD: z.string().min(1).optional(),
  /** A CA certificate (PEM): when set, the connection uses TLS and verifies the server's certificate against it. */
  NATS_TLS_CA: pemFile.optional(),
  /** A client certificate and its key (PEM), for a server that verifies its clients; both or neither. */
  NATS_TLS_CERT: pemFile.optional(),
  NATS_TLS_KEY: pemFile.optional(),
  /** Partitions of the command stream. Fixed for the life of a ledger: changing it moves members. */
  PARTITION_COUNT: wholeNumber(1, PARTITION_COUNT_MAX).default(PARTITION_COUNT_DEFAULT),
  /** Prefix of stream names and subjects, so several ledgers (or test runs) share one nats-server. */
  NATS_PREFIX: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'lower-case letters, digits, _ and -').default('potledger'),
  HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  HTTP_PORT: wholeNumber(0, 65535).default(8080),
  /** Requests one verified API key may make per API_RATE_LIMIT_WINDOW_MS; without a verified key (public routes, failed authentications): per client address. */
  API_RATE_LIMIT_MAX: wholeNumber(1, 10_000_000).default(60_000),
  API_RATE_LIMIT_WINDOW_MS: wholeNumber(1000, 3_600_000).default(60_000),
  /** How long `?wait=true` waits for a command's outcome before answering 202 (pending). */
  API_WAIT_TIMEOUT_MS: wholeNumber(100, 120_000).default(10_000),
  /** Run shard workers in this process (false for an API-only process). */
  WORKER_ENABLED: z.enum(['true', 'false']).transform((value) => value === 'true').default(true),
  /** Most messages of one partition in one batch. */
  COMMIT_BATCH_MAX: wholeNumber(1, 5000).default(250),
  /** Most commands in one group commit transaction, across the partitions of the worker. */
  COMMIT_GROUP_MAX: wholeNumber(1, 20_000).default(4000),
  /** Group commit transactions a worker runs at once. */
  COMMIT_CONCURRENCY: wholeNumber(1, 16).default(2),
  /** Most pot actors kept in memory per partition. */
  LIVE_ACTORS_MAX: wholeNumber(1, 10_000_000).default(20_000),
  /** A partition lease not renewed for this long expires and moves to another worker. */
  LEASE_TTL_MS: wholeNumber(1000, 600_000).default(5000),
  /** Most bytes each of the command and event streams may hold (JetStream reserves it). */
  STREAM_MAX_BYTES: wholeNumber(1024 ** 2, 1024 ** 4).default(1024 ** 3),
  /** Run the alert consumer in this process (it reads the event stream; one per deployment is enough). */
  ALERTS_ENABLED: z.enum(['true', 'false']).transform((value) => value === 'true').default(true),
  /** A movement with an entry strictly above its asset's threshold alerts: `GBP=10000.00,EUR=10000.00`. */
  ALERT_THRESHOLDS: thresholds.default(new Map([['GBP', 1_000_000n]])),
  /** A spike: a window's movements above this many times the average per window over the history. */
  ALERT_SPIKE_FACTOR: wholeNumber(1, 1_000_000).default(10),
  /** Fewest movements in a window for a spike. */
  ALERT_SPIKE_MIN_COUNT: wholeNumber(1, 1_000_000_000).default(20),
  /** The spike rule's window, and how many windows of history it averages over. */
  ALERT_WINDOW_MS: wholeNumber(1000, 86_400_000).default(60_000),
  ALERT_HISTORY_WINDOWS: wholeNumber(1, 10_080).default(60),
  /** Fraud review: a payment strictly over its currency's amount here waits for an operator (`GBP=5000.00`; none when empty). */
  PAYMENT_REVIEW_OVER: thresholds.default(new Map()),
  /** Fraud review: a payment from a pot with an alert not yet acknowledged waits for an operator. */
  PAYMENT_REVIEW_OPEN_ALERTS: z.enum(['true', 'false']).transform((value) => value === 'true').default(false),
  /** A cross-currency payment uses the latest FX rate of its pair recorded within this many days. */
  FX_RATE_MAX_AGE_DAYS: wholeNumber(1, 31).default(4),
  /** Tests only: die at a named failpoint (`after-commit-before-ack:3`). */
  POTLEDGER_FAILPOINT: z
    .string()
    .regex(new RegExp(`^(${FAILPOINTS.join('|')}):[1-9][0-9]*$`), `<name>:<n>, name one of ${FAILPOINTS.join(', ')}`)
    .optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = z.output<typeof configSchema>;

export class ConfigError extends Error {
  readonly code = 'CONFIG_ERR_INVALID';
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const SECRET = /PASSWORD|SECRET|TOKEN/;

/** A URL with its password masked, for messages and logs. */
export function redactUrl(text: string): string {
  return text.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
}

/** Reads the configuration from `env`; throws ConfigError listing every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const relevant = Object.fromEntries(
    Object.keys(configSchema.shape).flatMap((key) => (env[key] === undefined || env[key] === '' ? [] : [[key, env[key]]])),
  );
  const parsed = configSchema.safeParse(relevant);
  if (parsed.success) {
    const problems = crossProblems(parsed.data);
    if (problems.length > 0) throw new ConfigError(problems);
    return parsed.data;
  }
  throw new ConfigError(
    parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '(config)');
      const value = relevant[key];
      if (value === undefined) return `${key} is not set: it is required`;
      const shown = SECRET.test(key) ? 'is set but invalid' : `is "${redactUrl(value)}"`;
      return `${key} ${shown}: expected ${issue.message}`;
    }),
  );
}

/** Variables that only make sense together. */
const PAIRS = [
  ['NATS_USER', 'NATS_PASSWORD'],
  ['NATS_TLS_CERT', 'NATS_TLS_KEY'],
] as const;

/** Problems between variables (each one alone is valid), one line each. */
function crossProblems(config: Config): string[] {
  const problems: string[] = PAIRS.flatMap(([first, second]) => {
    const missing = config[first] === undefined ? first : config[second] === undefined ? second : undefined;
    const present = missing === first ? second : first;
    if (missing === undefined || config[present] === undefined) return [];
    return [`${missing} is not set: ${first} and ${second} go together (set both, or neither)`];
  });
  if (config.NATS_TLS_CERT !== undefined && config.NATS_TLS_CA === undefined) {
    problems.push('NATS_TLS_CA is not set: a client certificate (NATS_TLS_CERT) is only sent over TLS, which needs the CA that signed the server\'s certificate');
  }
  const rootCertificate = URL.canParse(config.DATABASE_URL) ? new URL(config.DATABASE_URL).searchParams.get('sslrootcert') : null;
  if (rootCertificate !== null && !pemFile.safeParse(rootCertificate).success) {
    problems.push(`DATABASE_URL names sslrootcert=${rootCertificate}: expected the path of a readable PEM file; there is none (or it cannot be read)`);
  }
  return problems;
}
