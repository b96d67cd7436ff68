/**
 * "Anything to process?" check the news state machine runs before starting the ml_processing job.
 *
 * - db mode (`{}`): counts rows of the articles table that still need enrichment (topic, sentiment or embedding
 *   NULL and `ml_attempts` below the maximum), connecting with `pg` using the secret named by `DB_SECRET_ARN`
 *   (an RDS-style JSON secret: host, port, username, password, dbname). The secret never reaches the logs.
 * - lake mode (`{"source": "s3://…", "sink": "s3://…"}`): compares the source dataset's `_CURRENT` pointer with
 *   the state file `<sink>/_ml_state.json` that ml_processing writes beside the sink after a lake-mode run. Two
 *   small GETs, no listing, no Parquet reading. State of this source at an unchanged version → the retryable
 *   failures recorded in it; a new version (or a state of another source) → the rows the pointer declares when it
 *   carries a count, else 1 (a lower bound: "at least one"). Missing objects must read as 404, so the role may
 *   list the prefixes it reads; a 403 is an error, never "not processed yet".
 *
 * Output: `{"pending": n, "mode": "db" | "lake", ...}`; the state machine skips the job when `pending` is 0.
 */
import { GetObjectCommand, NoSuchKey, S3Client } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Logger } from '@aws-lambda-powertools/logger';
import { Client } from 'pg';
import * as z from 'zod';

const logger = new Logger({ serviceName: 'check-articles' });

const s3Uri = z.string().regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/, 'must be an s3://bucket/prefix URI');

export const CheckArticlesInput = z.strictObject({
  source: s3Uri.optional(),
  /** Lake mode: the sink dataset ml_processing writes; its `_ml_state.json` says what it was built from. */
  sink: s3Uri.optional(),
  table: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a plain lower-case SQL identifier').default('articles'),
  maxAttempts: z.number().int().min(1).max(100).default(3),
});
export type CheckArticlesInput = z.infer<typeof CheckArticlesInput>;

export interface CheckArticlesOutput {
  readonly pending: number;
  readonly mode: 'db' | 'lake';
  readonly sourceVersion?: string | null;
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

const CurrentPointer = z.looseObject({ version: z.string().min(1), rows: z.number().int().nonnegative().optional() });
const MlState = z.looseObject({
  source: z.string().optional(),
  sourceVersion: z.string().nullable(),
  retryable: z.number().int().nonnegative(),
});

/** File beside the sink's `_CURRENT` (jobs/ml_processing.py `state_uri`). */
export const ML_STATE_FILE = '_ml_state.json';

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
    throw new ValidationError('sink: required in lake mode (the processing state lives beside the sink dataset)');
  }
  return parsed.data;
}

export function splitS3Uri(uri: string): { bucket: string; key: string } {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!match) throw new ValidationError(`source: not an s3 URI: ${uri}`);
  return { bucket: match[1], key: match[2].replace(/\/+$/, '') };
}

async function readJson(s3: S3Client, bucket: string, key: string): Promise<unknown | undefined> {
  try {
    const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const text = await response.Body!.transformToString('utf-8');
    return JSON.parse(text);
  } catch (error) {
    if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') return undefined;
    throw error;
  }
}

const objectIn = (root: string, name: string) => {
  const { bucket, key } = splitS3Uri(root);
  return { bucket, key: key ? `${key}/${name}` : name };
};
const sameRoot = (a: string, b: string) => a.replace(/\/+$/, '') === b.replace(/\/+$/, '');

export async function countLakePending(s3: S3Client, source: string, sink: string): Promise<CheckArticlesOutput> {
  const current = objectIn(source, '_CURRENT');
  const pointerJson = await readJson(s3, current.bucket, current.key);
  if (pointerJson === undefined) {
    return { pending: 0, mode: 'lake', sourceVersion: null, reason: 'source dataset has no committed version' };
  }
  const pointer = CurrentPointer.parse(pointerJson);
  const stateFile = objectIn(sink, ML_STATE_FILE);
  const stateJson = await readJson(s3, stateFile.bucket, stateFile.key);
  const parsed = stateJson === undefined ? undefined : MlState.parse(stateJson);
  // a state written for another source (same sink, other source) says nothing about this one
  const state = parsed && (parsed.source === undefined || sameRoot(parsed.source, source)) ? parsed : undefined;
  if (state && state.sourceVersion === pointer.version) {
    return {
      pending: state.retryable,
      mode: 'lake',
      sourceVersion: pointer.version,
      reason: state.retryable > 0 ? 'failed rows below the attempt limit' : 'source version already processed',
    };
  }
  return {
    pending: pointer.rows ?? 1,
    mode: 'lake',
    sourceVersion: pointer.version,
    reason: state ? 'new source version since the last run' : parsed ? 'sink was last built from another source' : 'source never processed',
  };
}

export function pendingQuery(table: string): string {
  // The identifier is validated by the zod schema (plain lower-case name), so it is safe to interpolate.
  return (
    `SELECT count(*)::bigint AS pending FROM ${table} ` +
    'WHERE (topic IS NULL OR sentiment IS NULL OR embedding IS NULL) AND ml_attempts < $1'
  );
}

export async function countDbPending(secret: DbSecret, table: string, maxAttempts: number): Promise<number> {
  const client = new Client({
    host: secret.host,
    port: secret.port,
    user: secret.username,
    password: secret.password,
    database: secret.dbname,
    ssl: secret.sslmode && secret.sslmode !== 'disable' ? { rejectUnauthorized: secret.sslmode === 'verify-full' } : undefined,
    connectionTimeoutMillis: 10_000,
    statement_timeout: 30_000,
  });
  await client.connect();
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

export const handler = async (event: unknown): Promise<CheckArticlesOutput> => {
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
  const pending = await countDbPending(secret, input.table, input.maxAttempts);
  logger.info('db pending articles', { table: input.table, maxAttempts: input.maxAttempts, pending });
  return { pending, mode: 'db' };
};
