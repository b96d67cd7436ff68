/**
 * "Anything to process?" check the news state machine runs before starting the ml_processing job.
 *
 * - db mode (`{}`): counts rows of the articles table that still need enrichment (topic, sentiment or embedding
 *   NULL and `ml_attempts` below the maximum), connecting with `pg` using the secret named by `DB_SECRET_ARN`
 *   (an RDS-style JSON secret: host, port, username, password, dbname, optional sslmode). TLS unless the secret
 *   says `sslmode: disable`; a paused Aurora Serverless v2 cluster is given time to resume and the connection is
 *   retried ({@link connectWithRetry}). The secret never reaches the logs.
 * - lake mode (`{"source": "s3://…", "sink": "s3://…"}`): both are Delta tables (docs/CONTRACTS.md "Lake tables");
 *   their commit logs are read with a few small requests, no Parquet ({@link latestCommit}, lambda/shared/delta-log.ts).
 *   The source's latest Delta version is compared with the processing state ml_processing puts in its sink commit
 *   (`commitInfo.userMetadata` = `{"source", "sourceVersion", "retryable"}`): the newest sink commit carrying one,
 *   walking back over at most {@link STATE_LOOKBACK} commits that change no data (VACUUM, OPTIMIZE, table
 *   properties). State of this source at its latest version → the retryable failures recorded in it; a newer
 *   source version, a state of another source, or a sink last written without a state → the rows the source's
 *   latest commit added when every added file counts them (`add.stats.numRecords`), else 1 (a lower bound: "at
 *   least one"). Missing objects must read as 404, so the role may list `<root>/_delta_log/`; a 403 is an error,
 *   never "not processed yet".
 *
 * Output: `{"pending": n, "mode": "db" | "lake", ...}`; the state machine skips the job when `pending` is 0.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { existsSync, readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { Client, type ClientConfig } from 'pg';
import * as z from 'zod';
import { deltaTableLocation, latestCommit, readCommit, type DeltaCommit } from '../shared/delta-log';

const logger = new Logger({ serviceName: 'check-articles' });

const s3Uri = z.string().regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/, 'must be an s3://bucket/prefix URI');

export const CheckArticlesInput = z.strictObject({
  source: s3Uri.optional(),
  /** Lake mode: the sink table ml_processing writes; its commits' `userMetadata` says what it was built from. */
  sink: s3Uri.optional(),
  table: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a plain lower-case SQL identifier').default('articles'),
  maxAttempts: z.number().int().min(1).max(100).default(3),
});
export type CheckArticlesInput = z.infer<typeof CheckArticlesInput>;

export interface CheckArticlesOutput {
  readonly pending: number;
  readonly mode: 'db' | 'lake';
  /** Lake mode: the source table's latest Delta version (null: no committed version). */
  readonly sourceVersion?: number | null;
  readonly reason?: string;
}

const DbSecret = z.object({
  host: z.string().min(1),
  port: z.coerce.number().int().positive().default(5432),
  username: z.string().min(1),
  password: z.string(),
  dbname: z.string().min(1).default('postgres'),
  sslmode: z.enum(['disable', 'require', 'verify-full']).optional(),
});
export type DbSecret = z.infer<typeof DbSecret>;

/** ml_processing's processing state in its sink commit's `userMetadata` (jobs/ml_processing.py). */
const MlState = z.looseObject({
  source: z.string().optional(),
  sourceVersion: z.number().int().nonnegative().nullable(),
  retryable: z.number().int().nonnegative(),
});
type MlState = z.infer<typeof MlState>;

/** Sink commits without a state and without data change (VACUUM START/END, OPTIMIZE, properties) looked past. */
export const STATE_LOOKBACK = 10;

export class ValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValidationError';
  }
}

function parseInput(event: unknown): CheckArticlesInput {
  const parsed = CheckArticlesInput.safeParse(event ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.join('.') || '(input)';
    throw new ValidationError(`${field}: ${issue.message}`);
  }
  if (parsed.data.source && !parsed.data.sink) {
    throw new ValidationError('sink: required in lake mode (the processing state is in the sink table commits)');
  }
  return parsed.data;
}

const sameRoot = (a: string, b: string) => a.replace(/\/+$/, '') === b.replace(/\/+$/, '');

/** The commit's processing state; undefined when its metadata is none (another writer's or maintenance commit). */
function stateOf(sink: string, commit: DeltaCommit): MlState | undefined {
  const metadata = commit.commitInfo?.userMetadata;
  if (metadata === null || typeof metadata !== 'object' || !('sourceVersion' in metadata || 'retryable' in metadata)) return undefined;
  const parsed = MlState.safeParse(metadata);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`${sink} version ${commit.version}: commitInfo.userMetadata is not a valid processing state: ${issues}`);
  }
  return parsed.data;
}

/**
 * What the sink was last built from: the state of its newest commit that carries one, looking past up to
 * {@link STATE_LOOKBACK} newer commits that change no data. `no-sink` when the sink has no commit; `no-state`
 * when its newest data commit has no state, or the lookback ends (or the log was cleaned up) first.
 */
export async function sinkState(s3: S3Client, sink: string): Promise<MlState | 'no-sink' | 'no-state'> {
  const table = deltaTableLocation(sink);
  let commit = await latestCommit(s3, table);
  if (!commit) return 'no-sink';
  for (let looked = 0; commit && looked <= STATE_LOOKBACK; looked++) {
    const state = stateOf(sink, commit);
    if (state) return state;
    if (commit.changesData || commit.version === 0) break;
    commit = await readCommit(s3, table, commit.version - 1);
  }
  return 'no-state';
}

export async function countLakePending(s3: S3Client, source: string, sink: string): Promise<CheckArticlesOutput> {
  const latest = await latestCommit(s3, deltaTableLocation(source));
  if (latest === undefined) {
    return { pending: 0, mode: 'lake', sourceVersion: null, reason: 'source dataset has no committed version' };
  }
  const built = await sinkState(s3, sink);
  // a state written for another source (same sink, other source) says nothing about this one
  const state = typeof built === 'object' && (built.source === undefined || sameRoot(built.source, source)) ? built : undefined;
  if (state && state.sourceVersion === latest.version) {
    return {
      pending: state.retryable,
      mode: 'lake',
      sourceVersion: latest.version,
      reason: state.retryable > 0 ? 'failed rows below the attempt limit' : 'source version already processed',
    };
  }
  return {
    // the rows the latest source commit added (a lower bound when several commits came since), else "at least one"
    pending: latest.addedFiles > 0 && latest.addedRows !== undefined ? latest.addedRows : 1,
    mode: 'lake',
    sourceVersion: latest.version,
    reason: state
      ? 'new source version since the last run'
      : typeof built === 'object'
        ? 'sink was last built from another source'
        : built === 'no-state'
          ? 'sink was last written without a processing state'
          : 'source never processed',
  };
}

export function pendingQuery(table: string): string {
  // The identifier is validated by the zod schema (plain lower-case name), so it is safe to interpolate.
  return (
    `SELECT count(*)::bigint AS pending FROM ${table} ` +
    'WHERE (topic IS NULL OR sentiment IS NULL OR embedding IS NULL) AND ml_attempts < $1'
  );
}

/** The part of `pg.Client` the count uses (a fake in the unit tests). */
export interface PgConnection {
  connect(): Promise<unknown>;
  query<R extends Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
  end(): Promise<unknown>;
}
export type ConnectionFactory = (config: ClientConfig) => PgConnection;

/**
 * Connecting to a paused Aurora Serverless v2 instance (min 0 ACU) resumes it; the connection is held until the
 * instance is up, typically ~15 s. So one attempt may wait 20 s, and a failure a resuming (or just-pausing)
 * instance gives is retried twice after 1 s and 2 s — never past the invocation's remaining time.
 */
export const CONNECT_RETRY = { attempts: 3, attemptTimeoutMs: 20_000, backoffMs: [1_000, 2_000], reserveMs: 3_000 } as const;

/**
 * Errors of a cluster that is resuming or pausing: the connect timeout (pg destroys the socket with `timeout
 * expired`), the socket closed or refused while the instance is not up (`Connection terminated…`, ECONNREFUSED,
 * ECONNRESET, ETIMEDOUT, EHOSTUNREACH, EPIPE, DNS EAI_AGAIN), and PostgreSQL's `57P03` cannot_connect_now ("the
 * database system is starting up"), `57P01` admin_shutdown (terminated by a pause) and the `08…` connection
 * exceptions. Authentication (`28…`), a missing database (`3D000`) and TLS failures are not retried: they do not
 * go away by waiting.
 */
const RETRYABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN', '57P03', '57P01', '08000', '08001', '08003', '08006']);
const RETRYABLE_MESSAGES = /^(timeout expired|Connection terminated( unexpectedly| due to connection timeout)?)$/;

export function isResumingError(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return (typeof code === 'string' && RETRYABLE_CODES.has(code)) || (typeof message === 'string' && RETRYABLE_MESSAGES.test(message));
}

export class DatabaseUnavailableError extends Error {
  constructor(message: string, readonly attempts: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DatabaseUnavailableError';
  }
}

/** Amazon's CA bundle on the Lambda Node.js runtimes (≥ 20 do not load it by default); includes the RDS CAs. */
export const LAMBDA_CA_BUNDLE = '/var/runtime/ca-cert.pem';

function defaultCaBundle(): string | undefined {
  const file = process.env.DB_CA_BUNDLE ?? LAMBDA_CA_BUNDLE;
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

/**
 * TLS of the connection from the secret's `sslmode` (libpq's meanings): absent or `verify-full` → TLS, the
 * server certificate verified against Node's roots + the RDS CAs and the host name checked; `require` → TLS
 * without verification; `disable` → plain TCP (a database without TLS).
 */
export function tlsOptions(secret: Pick<DbSecret, 'sslmode'>, caBundle: () => string | undefined = defaultCaBundle): ClientConfig['ssl'] {
  if (secret.sslmode === 'disable') return false;
  if (secret.sslmode === 'require') return { rejectUnauthorized: false };
  const bundle = caBundle();
  return bundle ? { rejectUnauthorized: true, ca: [...rootCertificates, bundle] } : { rejectUnauthorized: true };
}

export interface DbConnectOptions {
  readonly factory?: ConnectionFactory;
  readonly caBundle?: () => string | undefined;
  /** Milliseconds the invocation has left (Lambda `context.getRemainingTimeInMillis`). */
  readonly remainingMs?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly retry?: { attempts: number; attemptTimeoutMs: number; backoffMs: readonly number[]; reserveMs: number };
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

export async function connectWithRetry(config: ClientConfig, options: DbConnectOptions = {}): Promise<PgConnection> {
  const factory = options.factory ?? ((c: ClientConfig) => new Client(c));
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const retry = options.retry ?? CONNECT_RETRY;
  const remaining = options.remainingMs ?? (() => Number.POSITIVE_INFINITY);
  const errors: string[] = [];
  for (let attempt = 1; ; attempt++) {
    const timeout = Math.min(retry.attemptTimeoutMs, remaining() - retry.reserveMs);
    if (attempt > 1 && timeout < 1_000) break; // no time left for a meaningful attempt
    const client = factory({ ...config, connectionTimeoutMillis: Math.max(timeout, 1_000) });
    try {
      await client.connect();
      if (attempt > 1) logger.info('database connected after retry', { attempt });
      return client;
    } catch (error) {
      await client.end().catch(() => undefined);
      errors.push(errorText(error));
      if (!isResumingError(error)) throw error;
      logger.warn('database connection failed, cluster may be resuming', { attempt, error: errorText(error) });
      if (attempt >= retry.attempts) break;
      const backoff = retry.backoffMs[Math.min(attempt - 1, retry.backoffMs.length - 1)] ?? 0;
      if (remaining() - backoff - retry.reserveMs < 1_000) break;
      await sleep(backoff);
    }
  }
  throw new DatabaseUnavailableError(
    `database unreachable after ${errors.length} connection attempt${errors.length === 1 ? '' : 's'} ` +
      `(a paused Aurora Serverless v2 cluster takes ~15 s to resume): ${errors.map((e, i) => `#${i + 1} ${e}`).join('; ')}`,
    errors.length,
  );
}

export async function countDbPending(secret: DbSecret, table: string, maxAttempts: number, options: DbConnectOptions = {}): Promise<number> {
  const client = await connectWithRetry(
    {
      host: secret.host,
      port: secret.port,
      user: secret.username,
      password: secret.password,
      database: secret.dbname,
      ssl: tlsOptions(secret, options.caBundle),
      statement_timeout: 30_000,
    },
    options,
  );
  try {
    const result = await client.query<{ pending: string }>(pendingQuery(table), [maxAttempts]);
    return Number(result.rows[0].pending);
  } finally {
    await client.end();
  }
}

export async function fetchDbSecret(client: SecretsManagerClient, secretArn: string): Promise<DbSecret> {
  const response = await client.send(new GetSecretValueCommand({ SecretId: secretArn }));
  if (!response.SecretString) throw new Error('database secret has no SecretString');
  let raw: unknown;
  try {
    raw = JSON.parse(response.SecretString);
  } catch {
    throw new Error('database secret is not JSON');
  }
  const parsed = DbSecret.safeParse(raw);
  if (!parsed.success) {
    // Name the missing keys only, never the values.
    throw new Error(`database secret is missing or has invalid keys: ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`);
  }
  return parsed.data;
}

const s3Client = new S3Client({});
const secretsClient = new SecretsManagerClient({});

export const handler = async (event: unknown, context?: Partial<Pick<Context, 'getRemainingTimeInMillis'>>): Promise<CheckArticlesOutput> => {
  const input = parseInput(event);
  if (input.source) {
    const result = await countLakePending(s3Client, input.source, input.sink!);
    logger.info('lake pending articles', { source: input.source, sink: input.sink, ...result });
    return result;
  }
  const secretArn = process.env.DB_SECRET_ARN;
  if (!secretArn) {
    throw new ValidationError('source: required when no database is configured (DB_SECRET_ARN is not set)');
  }
  const secret = await fetchDbSecret(secretsClient, secretArn);
  const remainingMs = context?.getRemainingTimeInMillis?.bind(context);
  const pending = await countDbPending(secret, input.table, input.maxAttempts, { remainingMs });
  logger.info('db pending articles', { table: input.table, maxAttempts: input.maxAttempts, pending });
  return { pending, mode: 'db' };
};
