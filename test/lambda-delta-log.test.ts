import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import {
  commitFileName,
  deltaTableLocation,
  lastCheckpointVersion,
  latestCommit,
  latestVersion,
  readCommit,
  splitVersionRef,
  versionRef,
} from '../lambda/shared/delta-log';
import { addAction, commitName, commitText, metaDataAction, protocolAction, removeAction, serveBucket, sparkCommitInfo } from './support/s3-bucket-fake';

const projectRoot = path.resolve(__dirname, '..');
const s3 = mockClient(S3Client);
const client = new S3Client({ region: 'eu-west-1' });
const BUCKET = 'lake-bucket';
const ROOT = 'silver/netflix/ratings/train';
const LOG = `${ROOT}/_delta_log/`;
const table = { bucket: BUCKET, key: ROOT };
const getKeys = () => s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input.Key);

/** What delta-rs 1.6.6 (`write_deltalake(..., mode="overwrite", commit_properties=CommitProperties(custom_metadata={"userMetadata": …}))`) wrote. */
const DELTA_RS_V1 = [
  '{"commitInfo":{"timestamp":1796206701717,"operation":"WRITE","operationParameters":{"mode":"Overwrite"},"engineInfo":"delta-rs:py-1.6.6","clientVersion":"delta-rs.py-1.6.6","operationMetrics":{"num_added_files":1,"num_removed_files":1,"num_partitions":0,"num_added_rows":3,"execution_time_ms":1,"num_retries":0},"userMetadata":"{\\"rows\\": 3}"}}',
  '{"remove":{"path":"part-00000-c64a198d-276c-4b7f-8a89-dbc32194e78b-c000.snappy.parquet","dataChange":true,"deletionTimestamp":1796206701716,"extendedFileMetadata":true,"partitionValues":{},"size":753}}',
  '{"add":{"path":"part-00000-9fd4e2d0-993c-4900-896d-f340d450dffb-c000.snappy.parquet","partitionValues":{},"size":753,"modificationTime":1796206701717,"dataChange":true,"stats":"{\\"numRecords\\":3,\\"minValues\\":{\\"id\\":1},\\"maxValues\\":{\\"id\\":3},\\"nullCount\\":{\\"id\\":0,\\"ts\\":3}}","tags":null,"baseRowId":null,"defaultRowCommitVersion":null,"clusteringProvider":null}}',
  '',
].join('\n');

beforeEach(() => s3.reset());

describe('delta-log: the latest version from the table\'s own log', () => {
  test('no _delta_log objects: no committed version (the missing _last_checkpoint read as 404, one listing of the log prefix)', async () => {
    serveBucket(s3, BUCKET, { [`${ROOT}-other/_delta_log/${commitName(0)}`]: commitText([sparkCommitInfo()]) });
    await expect(latestCommit(client, table)).resolves.toBeUndefined();
    expect(getKeys()).toEqual([`${LOG}_last_checkpoint`]);
    expect(s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input)).toEqual([{ Bucket: BUCKET, Prefix: LOG }]);
  });

  test('a first commit in progress (the directory marker only, a temporary file) is no committed version', async () => {
    serveBucket(s3, BUCKET, { [LOG]: '', [`${LOG}.${commitName(0)}.8f1e.tmp`]: '{}', [`${ROOT}/part-00000-a.snappy.parquet`]: 'PAR1' });
    await expect(latestVersion(client, table)).resolves.toBeUndefined();
  });

  test('one commit: its version, commitInfo with userMetadata decoded, the rows it added', async () => {
    serveBucket(s3, BUCKET, {
      [`${ROOT}/part-00000-a.snappy.parquet`]: 'PAR1',
      [`${LOG}${commitName(0)}`]: commitText([
        sparkCommitInfo({ source: 's3://lake-bucket/bronze/x', sourceVersion: 4, retryable: 2 }),
        protocolAction,
        metaDataAction,
        addAction('part-00000-a.snappy.parquet', 250),
        addAction('part-00001-b.snappy.parquet', 150),
      ]),
    });
    const commit = await latestCommit(client, table);
    expect(commit).toMatchObject({
      version: 0,
      key: `${LOG}00000000000000000000.json`,
      addedFiles: 2,
      removedFiles: 0,
      addedRows: 400,
      changesData: true,
      isOverwrite: true,
      commitInfo: { operation: 'WRITE', engineInfo: 'Apache-Spark/4.0.2 Delta-Lake/4.0.0', userMetadata: { source: 's3://lake-bucket/bronze/x', sourceVersion: 4, retryable: 2 } },
    });
    expect(commit!.commitInfo!.operationParameters).toEqual({ mode: 'Overwrite', partitionBy: '[]' });
    expect(getKeys()).toEqual([`${LOG}_last_checkpoint`, `${LOG}${commitName(0)}`]);
  });

  test('the highest commit file wins; only <20 digits>.json names are commits', async () => {
    const objects: Record<string, string> = {};
    for (let v = 0; v <= 12; v++) objects[`${LOG}${commitName(v)}`] = commitText([sparkCommitInfo(undefined, { operation: v === 12 ? 'MERGE' : 'WRITE' }), addAction(`part-${v}.parquet`, v)]);
    Object.assign(objects, {
      [`${LOG}00000000000000000010.checkpoint.parquet`]: 'PAR1',
      [`${LOG}00000000000000000013.crc`]: '{}',
      [`${LOG}00000000000000000000.00000000000000000012.compacted.json`]: '{}',
      [`${LOG}00000000000000000020.checkpoint.80a083e8-7026-4e79-81be-64bd76c43a11.json`]: '{}',
      [`${LOG}_commits/00000000000000000014.3a0d65cd-4056-49b8-937b-95f9e3ee90e5.json`]: '{}',
      [`${LOG}_staged_commits/00000000000000000015.json`]: '{}',
      [`${LOG}.00000000000000000016.json.6f1c.tmp`]: '{}',
      [`${LOG}000000000000000000170.json`]: '{}',
      [`${ROOT}/year=2005/month=1/part-00000-c.snappy.parquet`]: 'PAR1',
    });
    serveBucket(s3, BUCKET, objects);
    const commit = await latestCommit(client, table);
    expect(commit).toMatchObject({ version: 12, addedRows: 12, commitInfo: { operation: 'MERGE' } });
    expect(commit!.commitInfo!.userMetadata).toBeUndefined();
  });

  test('_last_checkpoint: the listing starts after the checkpoint version (StartAfter), the commits after it still counted', async () => {
    const objects: Record<string, string> = { [`${LOG}_last_checkpoint`]: JSON.stringify({ version: 10, size: 13, sizeInBytes: 14091, numOfAddFiles: 1 }) };
    for (let v = 0; v <= 12; v++) objects[`${LOG}${commitName(v)}`] = commitText([sparkCommitInfo(), addAction(`part-${v}.parquet`, 1)]);
    objects[`${LOG}00000000000000000010.checkpoint.parquet`] = 'PAR1';
    const bucket = serveBucket(s3, BUCKET, objects);
    await expect(lastCheckpointVersion(client, table)).resolves.toBe(10);
    await expect(latestVersion(client, table)).resolves.toBe(12);
    expect(bucket.listings).toEqual([
      {
        input: { Bucket: BUCKET, Prefix: LOG, StartAfter: `${LOG}00000000000000000010` },
        keys: [`${LOG}00000000000000000010.checkpoint.parquet`, `${LOG}${commitName(10)}`, `${LOG}${commitName(11)}`, `${LOG}${commitName(12)}`, `${LOG}_last_checkpoint`],
      },
    ]);
  });

  test('a checkpoint at the latest version: that version (its commit file is kept beside the checkpoint)', async () => {
    serveBucket(s3, BUCKET, {
      [`${LOG}_last_checkpoint`]: JSON.stringify({ version: 7, size: 4 }),
      [`${LOG}00000000000000000007.checkpoint.parquet`]: 'PAR1',
      [`${LOG}${commitName(7)}`]: DELTA_RS_V1,
    });
    await expect(latestCommit(client, table)).resolves.toMatchObject({ version: 7, addedRows: 3, removedFiles: 1, commitInfo: { userMetadata: { rows: 3 } } });
  });

  test('every page of the listing is read (ContinuationToken; StartAfter only on the first request)', async () => {
    const objects: Record<string, string> = { [`${LOG}_last_checkpoint`]: JSON.stringify({ version: 300 }) };
    for (let v = 0; v < 2600; v++) objects[`${LOG}${commitName(v)}`] = '';
    objects[`${LOG}${commitName(2599)}`] = commitText([sparkCommitInfo(), addAction('part-last.parquet', 9)]);
    const bucket = serveBucket(s3, BUCKET, objects);
    await expect(latestCommit(client, table)).resolves.toMatchObject({ version: 2599, addedRows: 9 });
    expect(bucket.listings.map((l) => l.keys.length)).toEqual([1000, 1000, 301]); // versions 300…2599 and _last_checkpoint
    expect(bucket.listings[0]!.input).toEqual({ Bucket: BUCKET, Prefix: LOG, StartAfter: `${LOG}00000000000000000300` });
    for (const { input } of bucket.listings.slice(1)) {
      expect(input).toEqual({ Bucket: BUCKET, Prefix: LOG, ContinuationToken: expect.any(String) });
    }
  });

  test('without a checkpoint, all of the log is listed, page after page', async () => {
    const objects: Record<string, string> = {};
    for (let v = 0; v < 1001; v++) objects[`${LOG}${commitName(v)}`] = commitText([sparkCommitInfo()]);
    const bucket = serveBucket(s3, BUCKET, objects);
    await expect(latestVersion(client, table)).resolves.toBe(1000);
    expect(bucket.listings.map((l) => [l.input.StartAfter, l.keys.length])).toEqual([[undefined, 1000], [undefined, 1]]);
  });

  test('a table at the bucket root and URIs: s3://bucket/root[/] and <root>@v<N>', async () => {
    expect(deltaTableLocation('s3://lake-bucket/gold/news/articles/')).toEqual({ bucket: 'lake-bucket', key: 'gold/news/articles' });
    expect(deltaTableLocation('s3://lake-bucket/gold/news/articles@v3')).toEqual({ bucket: 'lake-bucket', key: 'gold/news/articles' });
    expect(deltaTableLocation('s3://lake-bucket')).toEqual({ bucket: 'lake-bucket', key: '' });
    expect(() => deltaTableLocation('/tmp/table')).toThrow(/not an s3:\/\/ table URI/);
    expect(versionRef('s3://lake/silver/netflix/ratings/train/', 3)).toBe('s3://lake/silver/netflix/ratings/train@v3');
    expect(splitVersionRef('s3://lake/silver/netflix/ratings/train@v3')).toEqual({ root: 's3://lake/silver/netflix/ratings/train', version: 3 });
    expect(splitVersionRef('s3://lake/silver/netflix/ratings/train/')).toEqual({ root: 's3://lake/silver/netflix/ratings/train' });
    expect(commitFileName(42)).toBe('00000000000000000042.json');
    serveBucket(s3, BUCKET, { [`_delta_log/${commitName(2)}`]: commitText([sparkCommitInfo()]), [`${LOG}${commitName(5)}`]: commitText([sparkCommitInfo()]) });
    await expect(latestVersion(client, { bucket: BUCKET, key: '' })).resolves.toBe(2);
    expect(s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input.Prefix)).toEqual(['_delta_log/']);
  });
});

describe('delta-log: what a commit says', () => {
  const serveCommit = (version: number, actions: ReadonlyArray<Record<string, unknown>>) =>
    serveBucket(s3, BUCKET, { [`${LOG}${commitName(version)}`]: commitText(actions) });

  test('rows are known only when every added file counts them', async () => {
    serveCommit(3, [sparkCommitInfo(), addAction('a.parquet', 10), addAction('b.parquet')]);
    await expect(readCommit(client, table, 3)).resolves.toMatchObject({ addedFiles: 2, addedRows: undefined });
    s3.reset();
    serveCommit(3, [sparkCommitInfo(), addAction('a.parquet', 10), addAction('b.parquet', undefined, { stats: 'not json' })]);
    await expect(readCommit(client, table, 3)).resolves.toMatchObject({ addedFiles: 2, addedRows: undefined });
    s3.reset();
    serveCommit(3, [sparkCommitInfo(), addAction('a.parquet', 10), addAction('b.parquet', undefined, { stats: JSON.stringify({ minValues: {} }) })]);
    await expect(readCommit(client, table, 3)).resolves.toMatchObject({ addedRows: undefined });
  });

  test('a commit adding no file: 0 rows added; maintenance (OPTIMIZE: dataChange false) changes no data', async () => {
    serveCommit(4, [{ commitInfo: { timestamp: 1, operation: 'VACUUM END', operationParameters: { status: 'COMPLETED' } } }]);
    await expect(readCommit(client, table, 4)).resolves.toMatchObject({ addedFiles: 0, addedRows: 0, changesData: false, isOverwrite: false });
    s3.reset();
    serveCommit(5, [
      { commitInfo: { operation: 'OPTIMIZE', operationParameters: { predicate: '[]', auto: false } } },
      removeAction('a.parquet', { dataChange: false }),
      removeAction('b.parquet', { dataChange: false }),
      addAction('c.parquet', 30, { dataChange: false }),
    ]);
    await expect(readCommit(client, table, 5)).resolves.toMatchObject({ addedFiles: 1, removedFiles: 2, addedRows: 30, changesData: false, isOverwrite: false });
    s3.reset();
    serveCommit(6, [sparkCommitInfo(undefined, { operation: 'DELETE', operationParameters: { predicate: '["(id = 1)"]' } }), removeAction('c.parquet')]);
    await expect(readCommit(client, table, 6)).resolves.toMatchObject({ addedFiles: 0, removedFiles: 1, changesData: true, isOverwrite: false });
  });

  test('userMetadata that is not JSON stays the text written; a commit without commitInfo has none', async () => {
    serveCommit(1, [sparkCommitInfo('nightly load by ops'), addAction('a.parquet', 1)]);
    await expect(readCommit(client, table, 1)).resolves.toMatchObject({ commitInfo: { userMetadata: 'nightly load by ops' } });
    s3.reset();
    serveCommit(1, [addAction('a.parquet', 1)]);
    const commit = await readCommit(client, table, 1);
    expect(commit).toMatchObject({ version: 1, addedRows: 1 });
    expect(commit!.commitInfo).toBeUndefined();
  });

  test('a commit file that does not exist: undefined (never written, or cleaned up)', async () => {
    serveCommit(1, [sparkCommitInfo()]);
    await expect(readCommit(client, table, 0)).resolves.toBeUndefined();
  });

  test('a malformed commit is an error naming the file and line', async () => {
    serveBucket(s3, BUCKET, { [`${LOG}${commitName(2)}`]: `${JSON.stringify(sparkCommitInfo())}\n{"add": {"path": 7}}\n` });
    await expect(latestCommit(client, table)).rejects.toThrow(`s3://${BUCKET}/${LOG}${commitName(2)} line 2: add.path:`);
    s3.reset();
    serveBucket(s3, BUCKET, { [`${LOG}${commitName(2)}`]: '{"commitInfo": {' });
    await expect(latestCommit(client, table)).rejects.toThrow(/line 1 is not JSON/);
  });
});

describe('delta-log: failures are errors, never "no table"', () => {
  test('a 403 on _last_checkpoint (a role that may not list the log) propagates', async () => {
    serveBucket(s3, BUCKET, { [`${LOG}${commitName(0)}`]: commitText([sparkCommitInfo()]) }, { canList: false });
    await expect(latestCommit(client, table)).rejects.toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
    expect(s3.commandCalls(ListObjectsV2Command)).toHaveLength(0);
  });

  test('a 403 on the listing propagates', async () => {
    serveBucket(s3, BUCKET, {});
    s3.on(ListObjectsV2Command).rejects(Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }));
    await expect(latestVersion(client, table)).rejects.toMatchObject({ name: 'AccessDenied' });
  });

  test('a checkpoint with no commit file at or after it, or an unreadable _last_checkpoint, is an error', async () => {
    serveBucket(s3, BUCKET, { [`${LOG}_last_checkpoint`]: JSON.stringify({ version: 10 }), [`${LOG}${commitName(9)}`]: commitText([sparkCommitInfo()]) });
    await expect(latestVersion(client, table)).rejects.toThrow(/no commit file at or after the checkpoint version 10/);
    s3.reset();
    serveBucket(s3, BUCKET, { [`${LOG}_last_checkpoint`]: JSON.stringify({ size: 3 }) });
    await expect(latestVersion(client, table)).rejects.toThrow(/_last_checkpoint: version: /);
  });
});

describe('delta-log: a table delta-rs wrote', () => {
  test('three overwrites and a checkpoint at version 1: version 2, its rows and userMetadata', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'delta-rs-'));
    try {
      const script = [
        'import json, sys, pyarrow as pa',
        'from deltalake import CommitProperties, DeltaTable, write_deltalake',
        'for n in (3, 5, 8):',
        '    write_deltalake(sys.argv[1], pa.table({"id": list(range(n))}), mode="overwrite",',
        '                    commit_properties=CommitProperties(custom_metadata={"userMetadata": json.dumps({"rows": n})}))',
        '    if n == 5: DeltaTable(sys.argv[1]).create_checkpoint()',
      ].join('\n');
      execFileSync(path.join(projectRoot, '.venv', 'bin', 'python'), ['-c', script, dir], { stdio: 'pipe' });
      const files = (function walk(d: string): string[] {
        return readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
      })(dir);
      const objects = Object.fromEntries(files.map((f) => [`${ROOT}/${path.relative(dir, f).split(path.sep).join('/')}`, readFileSync(f, 'latin1')]));
      expect(Object.keys(objects)).toContain(`${LOG}00000000000000000001.checkpoint.parquet`);
      const bucket = serveBucket(s3, BUCKET, objects);
      await expect(latestCommit(client, table)).resolves.toMatchObject({
        version: 2,
        addedFiles: 1,
        removedFiles: 1,
        addedRows: 8,
        isOverwrite: true,
        changesData: true,
        commitInfo: { operation: 'WRITE', userMetadata: { rows: 8 } },
      });
      expect(bucket.listings[0]!.input.StartAfter).toBe(`${LOG}00000000000000000001`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
