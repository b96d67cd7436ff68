import { GetObjectCommand, ListObjectsV2Command, NoSuchKey, type S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';

/**
 * A path-based Delta Lake table's transaction log, read straight from S3 — no Delta engine, a few small requests
 * (docs/CONTRACTS.md "Lake tables"). The table at root key `<root>` commits version N as the single object
 * `<root>/_delta_log/<N, 20 digits>.json` (newline-delimited JSON actions: `commitInfo`, `protocol`, `metaData`,
 * `add`, `remove`, …); `_delta_log/_last_checkpoint` (optional) names a checkpoint version.
 *
 * {@link latestCommit}: GET `_last_checkpoint` (NoSuchKey → start at version 0), list `_delta_log/` after the
 * checkpoint's version (every page), the highest `<20 digits>.json` is the latest version; GET and summarize it.
 * The listing does not depend on the checkpoint being current: it only says where to start.
 *
 * A missing object must read as NoSuchKey (404), so the caller needs `s3:ListBucket` for `<root>/_delta_log/`;
 * every other error (a 403 included) propagates — "no table" is never guessed from a failure.
 */

export const DELTA_LOG_DIR = '_delta_log';
export const LAST_CHECKPOINT = '_last_checkpoint';
const COMMIT_FILE = /^(\d{20})\.json$/;

/** A table's root: bucket and key prefix (no trailing `/`; `''` for a table at the bucket's root). */
export interface DeltaTableLocation {
  readonly bucket: string;
  readonly key: string;
}

/** `s3://bucket/root[/]` (or `<root>@v<N>`, whose version is ignored here) → the table's location. */
export function deltaTableLocation(uri: string): DeltaTableLocation {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(splitVersionRef(uri).root);
  if (!match) throw new Error(`not an s3:// table URI: ${uri}`);
  return { bucket: match[1]!, key: match[2]!.replace(/\/+$/, '') };
}

/** `<root>@v<N>`: how a job result names the exact table version it committed (jobs/common/datasets.py). */
export function versionRef(root: string, version: number): string {
  return `${root.replace(/\/+$/, '')}@v${version}`;
}

/** `<root>@v<N>` → `{root, version: N}`; a bare root → `{root, version: undefined}`. */
export function splitVersionRef(uri: string): { readonly root: string; readonly version?: number } {
  const match = /^(.+?)@v(\d+)$/.exec(uri);
  return match ? { root: match[1]!, version: Number(match[2]) } : { root: uri.replace(/\/+$/, '') };
}

/** `00000000000000000003.json` for version 3. */
export function commitFileName(version: number): string {
  return `${String(version).padStart(20, '0')}.json`;
}

const logPrefix = (table: DeltaTableLocation) => (table.key ? `${table.key}/${DELTA_LOG_DIR}/` : `${DELTA_LOG_DIR}/`);
const describe = (table: DeltaTableLocation) => `s3://${table.bucket}/${table.key}`;

const LastCheckpoint = z.looseObject({ version: z.number().int().nonnegative() });

const CommitInfoSchema = z.looseObject({
  timestamp: z.number().optional(),
  operation: z.string().optional(),
  operationParameters: z.record(z.string(), z.unknown()).nullish(),
  operationMetrics: z.record(z.string(), z.unknown()).nullish(),
  /** Spark (`userMetadata` option / `spark.databricks.delta.commitInfo.userMetadata`) and delta-rs write a string. */
  userMetadata: z.string().nullish(),
  engineInfo: z.string().nullish(),
  isBlindAppend: z.boolean().nullish(),
});
const AddAction = z.looseObject({
  path: z.string().min(1),
  size: z.number().nullish(),
  dataChange: z.boolean().nullish(),
  /** JSON text: `{"numRecords": n, "minValues": …}`; optional in the protocol. */
  stats: z.string().nullish(),
});
const RemoveAction = z.looseObject({ path: z.string().min(1), dataChange: z.boolean().nullish() });
const Action = z.looseObject({
  commitInfo: CommitInfoSchema.optional(),
  add: AddAction.optional(),
  remove: RemoveAction.optional(),
});
const Stats = z.looseObject({ numRecords: z.number().int().nonnegative() });

/** A commit's `commitInfo`, its `userMetadata` decoded from JSON when it is JSON (else the text as written). */
export interface DeltaCommitInfo {
  readonly timestamp?: number;
  readonly operation?: string;
  readonly operationParameters?: Readonly<Record<string, unknown>> | null;
  readonly operationMetrics?: Readonly<Record<string, unknown>> | null;
  readonly userMetadata?: unknown;
  readonly engineInfo?: string | null;
  readonly isBlindAppend?: boolean | null;
  /** Any other field of the action, as written. */
  readonly [field: string]: unknown;
}

export interface DeltaCommit {
  readonly version: number;
  /** The commit file's key (`<root>/_delta_log/<version>.json`). */
  readonly key: string;
  /** Absent when the commit has no `commitInfo` action (the protocol does not require one). */
  readonly commitInfo?: DeltaCommitInfo;
  readonly addedFiles: number;
  readonly removedFiles: number;
  /** Sum of `add.stats.numRecords` when every `add` carries it (0 for a commit adding no file), else undefined. */
  readonly addedRows?: number;
  /** Any `add` or `remove` with `dataChange` (true unless it says false): not a pure OPTIMIZE/VACUUM/properties commit. */
  readonly changesData: boolean;
  /** `operationParameters.mode` is `Overwrite` (Spark and delta-rs overwrite writes). */
  readonly isOverwrite: boolean;
}

const isNoSuchKey = (error: unknown) => error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey';

async function getText(s3: S3Client, bucket: string, key: string): Promise<string | undefined> {
  try {
    const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    if (!response.Body) throw new Error(`s3://${bucket}/${key} has no body`);
    return await response.Body.transformToString('utf-8');
  } catch (error) {
    if (isNoSuchKey(error)) return undefined;
    throw error;
  }
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${where} is not JSON: ${(error as Error).message}`);
  }
}

function decodeUserMetadata(text: string | null | undefined): unknown {
  if (text === undefined || text === null) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** The version `_last_checkpoint` names, or undefined when the table has none. */
export async function lastCheckpointVersion(s3: S3Client, table: DeltaTableLocation): Promise<number | undefined> {
  const key = `${logPrefix(table)}${LAST_CHECKPOINT}`;
  const text = await getText(s3, table.bucket, key);
  if (text === undefined) return undefined;
  const parsed = LastCheckpoint.safeParse(parseJson(text, `s3://${table.bucket}/${key}`));
  if (!parsed.success) throw new Error(`s3://${table.bucket}/${key}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return parsed.data.version;
}

/**
 * The table's latest committed version: the highest `<20 digits>.json` under `_delta_log/`, listed from the
 * `_last_checkpoint` version on (every page). Undefined when there is no commit file (no table, or a first commit
 * still in progress: a writer's directory marker `_delta_log/` or temporary files are not commits).
 */
export async function latestVersion(s3: S3Client, table: DeltaTableLocation): Promise<number | undefined> {
  const prefix = logPrefix(table);
  const checkpoint = await lastCheckpointVersion(s3, table);
  // every file of version ≥ checkpoint (`<v>.checkpoint.parquet`, `<v>.json`, …) sorts after the bare padded number
  const startAfter = checkpoint === undefined ? undefined : `${prefix}${String(checkpoint).padStart(20, '0')}`;
  let latest: number | undefined;
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: table.bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : startAfter ? { StartAfter: startAfter } : {}) }),
    );
    for (const object of page.Contents ?? []) {
      const match = COMMIT_FILE.exec((object.Key ?? '').slice(prefix.length));
      if (!match) continue;
      const version = Number(match[1]);
      if (Number.isSafeInteger(version) && (latest === undefined || version > latest)) latest = version;
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  if (latest === undefined && checkpoint !== undefined) {
    // writers keep the checkpoint version's commit file; without it the log is damaged (or only partly copied)
    throw new Error(`${describe(table)}: ${DELTA_LOG_DIR}/ holds no commit file at or after the checkpoint version ${checkpoint}`);
  }
  return latest;
}

/** Version `version`'s commit, summarized; undefined when its commit file does not exist (never written, or cleaned up). */
export async function readCommit(s3: S3Client, table: DeltaTableLocation, version: number): Promise<DeltaCommit | undefined> {
  const key = `${logPrefix(table)}${commitFileName(version)}`;
  const text = await getText(s3, table.bucket, key);
  if (text === undefined) return undefined;
  const where = `s3://${table.bucket}/${key}`;
  let commitInfo: DeltaCommitInfo | undefined;
  let addedFiles = 0;
  let removedFiles = 0;
  let addedRows: number | undefined = 0;
  let changesData = false;
  for (const [index, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    const parsed = Action.safeParse(parseJson(line, `${where} line ${index + 1}`));
    if (!parsed.success) {
      throw new Error(`${where} line ${index + 1}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    const { commitInfo: info, add, remove } = parsed.data;
    if (info) commitInfo = { ...info, userMetadata: decodeUserMetadata(info.userMetadata) };
    if (add) {
      addedFiles++;
      if (add.dataChange !== false) changesData = true;
      const stats = add.stats ? Stats.safeParse(decodeUserMetadata(add.stats)) : undefined;
      addedRows = stats?.success && addedRows !== undefined ? addedRows + stats.data.numRecords : undefined;
    }
    if (remove) {
      removedFiles++;
      if (remove.dataChange !== false) changesData = true;
    }
  }
  const mode = commitInfo?.operationParameters?.mode;
  return { version, key, commitInfo, addedFiles, removedFiles, addedRows, changesData, isOverwrite: mode === 'Overwrite' };
}

/** The table's latest commit (see {@link latestVersion}); undefined when the table has no committed version. */
export async function latestCommit(s3: S3Client, table: DeltaTableLocation): Promise<DeltaCommit | undefined> {
  const version = await latestVersion(s3, table);
  if (version === undefined) return undefined;
  const commit = await readCommit(s3, table, version);
  if (!commit) throw new Error(`${describe(table)}: commit file ${commitFileName(version)} was listed but cannot be read (NoSuchKey)`);
  return commit;
}
