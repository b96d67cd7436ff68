import { GetObjectCommand, ListObjectsV2Command, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import type { ClientConfig } from 'pg';
import { CONNECT_RETRY, countDbPending, DatabaseUnavailableError, handler, isResumingError, STATE_LOOKBACK, tlsOptions, type PgConnection } from '../lambda/check-articles/index';
import { migrationSql, startPgServer, type PgServer } from './support/pg-server';
import { addAction, commitName, commitText, metaDataAction, protocolAction, removeAction, serveBucket, sparkCommitInfo } from './support/s3-bucket-fake';

const s3 = mockClient(S3Client);
const secrets = mockClient(SecretsManagerClient);
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:news-db-AbCdEf';

describe('check-articles: db mode against a real PostgreSQL', () => {
  let pg: PgServer;
  const saved = { ...process.env };

  beforeAll(async () => {
    pg = await startPgServer();
    const client = await pg.client();
    await client.query(migrationSql());
    const vector = `{${Array.from({ length: 384 }, () => '0.05').join(',')}}`;
    await client.query(`INSERT INTO articles (id, title) SELECT g, 'title ' || g FROM generate_series(1, 10) g`);
    // 1-3 complete, 4 partially complete (still pending), 5 out of attempts, 6-10 untouched (pending)
    await client.query(`UPDATE articles SET topic='Sports', topic_score=0.5, sentiment='neutral', sentiment_score=0,
                        embedding='${vector}' WHERE id <= 3`);
    await client.query(`UPDATE articles SET sentiment='neutral', sentiment_score=0 WHERE id = 4`);
    await client.query(`UPDATE articles SET ml_attempts=3, ml_error='boom' WHERE id = 5`);
    await client.end();
  });
  afterAll(async () => {
    process.env = saved;
    await pg?.stop();
  });
  beforeEach(() => {
    secrets.reset();
    process.env = { ...saved, DB_SECRET_ARN: SECRET_ARN };
    secrets.on(GetSecretValueCommand, { SecretId: SECRET_ARN }).resolves({
      SecretString: JSON.stringify({ engine: 'postgres', host: pg.host, port: pg.port, username: pg.user,
        password: pg.password, dbname: pg.database, sslmode: 'disable' }), // the test server has no TLS
    });
  });

  test('counts rows with a NULL prediction and attempts below the maximum', async () => {
    await expect(handler({})).resolves.toEqual({ pending: 6, mode: 'db' });
    await expect(handler({ maxAttempts: 4 })).resolves.toEqual({ pending: 7, mode: 'db' });
    expect(secrets.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  test('rejects a table name that is not a plain identifier, naming the field', async () => {
    await expect(handler({ table: 'articles; drop table articles' })).rejects.toThrow(/^table: /);
  });

  test('a secret without a password fails without echoing secret values', async () => {
    secrets.reset();
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ host: 'db-host-xyz', username: 'user-abc' }) });
    const error = await handler({}).catch((e: Error) => e);
    expect(String(error)).toMatch(/missing or has invalid keys: password/);
    expect(String(error)).not.toMatch(/db-host-xyz|user-abc/);
  });

  test('without DB_SECRET_ARN, db mode is a validation error', async () => {
    delete process.env.DB_SECRET_ARN;
    await expect(handler({})).rejects.toThrow(/source: required when no database is configured/);
  });
});

describe('check-articles: connecting to a paused Aurora Serverless v2 cluster', () => {
  const secret = { host: 'news.cluster-abc.eu-west-1.rds.amazonaws.com', port: 5432, username: 'u', password: 'pw', dbname: 'news' };
  /** A socket error as Node gives it while the instance is not up yet. */
  const refused = () => Object.assign(new Error('connect ECONNREFUSED 10.0.1.5:5432'), { code: 'ECONNREFUSED' });
  /** What pg's connect gives when `connectionTimeoutMillis` passes (the resume took longer). */
  const timedOut = () => new Error('timeout expired');

  function fakeFactory(connectResults: Array<Error | 'ok'>) {
    const configs: ClientConfig[] = [];
    let ended = 0;
    const factory = (config: ClientConfig): PgConnection => {
      const result = connectResults[configs.length];
      configs.push(config);
      return {
        connect: async () => {
          if (result !== 'ok') throw result;
        },
        query: async <R,>() => ({ rows: [{ pending: '4' }] as R[] }),
        end: async () => {
          ended++;
        },
      };
    };
    return { factory, configs, ended: () => ended };
  }
  const sleeps: number[] = [];
  const sleep = async (ms: number) => {
    sleeps.push(ms);
  };
  beforeEach(() => sleeps.splice(0));

  test('the first connect fails as a resuming cluster does, the second succeeds: the rows are counted', async () => {
    const fake = fakeFactory([refused(), 'ok']);
    await expect(countDbPending(secret, 'articles', 3, { factory: fake.factory, sleep, caBundle: () => undefined })).resolves.toBe(4);
    expect(fake.configs).toHaveLength(2);
    expect(sleeps).toEqual([CONNECT_RETRY.backoffMs[0]]);
    // each attempt may wait longer than a resume (~15 s), not pg's 10 s of before
    expect(fake.configs.every((c) => c.connectionTimeoutMillis === CONNECT_RETRY.attemptTimeoutMs)).toBe(true);
    expect(CONNECT_RETRY.attemptTimeoutMs).toBeGreaterThan(15_000);
    expect(fake.ended()).toBe(2); // the failed client and the used one are both closed
  });

  test('every attempt fails: a clear error naming the attempts', async () => {
    const fake = fakeFactory([timedOut(), refused(), timedOut()]);
    const error = await countDbPending(secret, 'articles', 3, { factory: fake.factory, sleep, caBundle: () => undefined }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatabaseUnavailableError);
    expect(error).toMatchObject({ name: 'DatabaseUnavailableError', attempts: 3 });
    expect((error as Error).message).toBe(
      'database unreachable after 3 connection attempts (a paused Aurora Serverless v2 cluster takes ~15 s to resume): ' +
        '#1 timeout expired; #2 connect ECONNREFUSED 10.0.1.5:5432; #3 timeout expired',
    );
    expect(sleeps).toEqual([1_000, 2_000]);
    expect((error as Error).message).not.toContain('pw');
  });

  test('retries stay inside the invocation: no attempt starts when the remaining time is spent', async () => {
    let remaining = 24_000; // a 30 s function after the secret lookup
    const fake = fakeFactory([timedOut(), timedOut(), timedOut()]);
    const factory = (config: ClientConfig) => {
      remaining -= config.connectionTimeoutMillis ?? 0; // the attempt waited its whole timeout
      return fake.factory(config);
    };
    const error = await countDbPending(secret, 'articles', 3, { factory, sleep: async (ms) => void (remaining -= ms), remainingMs: () => remaining, caBundle: () => undefined })
      .catch((e: Error) => e);
    expect(fake.configs.map((c) => c.connectionTimeoutMillis)).toEqual([20_000]); // 24 s − 20 s − 1 s backoff leaves no room
    expect(error).toMatchObject({ name: 'DatabaseUnavailableError', attempts: 1 });
  });

  test('errors that waiting does not fix are not retried (bad password, TLS)', async () => {
    const auth = Object.assign(new Error('password authentication failed for user "u"'), { code: '28P01' });
    const fake = fakeFactory([auth]);
    await expect(countDbPending(secret, 'articles', 3, { factory: fake.factory, sleep, caBundle: () => undefined })).rejects.toBe(auth);
    expect(fake.configs).toHaveLength(1);
    expect(isResumingError(Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }))).toBe(false);
    expect(isResumingError(Object.assign(new Error('the database system is starting up'), { code: '57P03' }))).toBe(true);
    expect(isResumingError(new Error('Connection terminated unexpectedly'))).toBe(true);
  });

  test('TLS by default: the certificate is verified against the RDS CA bundle; the secret may say otherwise', async () => {
    const fake = fakeFactory(['ok']);
    await countDbPending(secret, 'articles', 3, { factory: fake.factory, sleep, caBundle: () => 'RDS-CA-PEM' });
    const ssl = fake.configs[0].ssl as { rejectUnauthorized: boolean; ca: string[] };
    expect(ssl.rejectUnauthorized).toBe(true);
    expect(ssl.ca).toContain('RDS-CA-PEM');
    expect(ssl.ca.length).toBeGreaterThan(1); // Node's public roots stay trusted too (an existing non-RDS database)
    expect(tlsOptions({ sslmode: 'verify-full' }, () => undefined)).toEqual({ rejectUnauthorized: true });
    expect(tlsOptions({ sslmode: 'require' })).toEqual({ rejectUnauthorized: false });
    expect(tlsOptions({ sslmode: 'disable' })).toBe(false);
  });
});

describe('check-articles: lake mode', () => {
  beforeEach(() => s3.reset());
  const source = 's3://lake-bucket/bronze/news/articles';
  const sink = 's3://lake-bucket/gold/news/articles';
  const SOURCE_LOG = 'bronze/news/articles/_delta_log/';
  const SINK_LOG = 'gold/news/articles/_delta_log/'; // ml_processing commits its state with the sink (gold), never to bronze
  /** Source commits 0…n: each an overwrite of the articles (rows: the last one's add stats; null: no stats). */
  const sourceTable = (latest: number, rows: number | null = 400): Record<string, string> =>
    Object.fromEntries(
      Array.from({ length: latest + 1 }, (_, v) => [
        `${SOURCE_LOG}${commitName(v)}`,
        commitText([sparkCommitInfo(), ...(v === 0 ? [protocolAction, metaDataAction] : [removeAction(`part-${v - 1}.parquet`)]), addAction(`part-${v}.parquet`, v === latest ? (rows ?? undefined) : 5)]),
      ]),
    );
  /** Sink commits, oldest first: a state (ml_processing's userMetadata), `vacuum`/`properties` (no data change) or `write` (another writer). */
  const sinkTable = (...commits: Array<Record<string, unknown> | 'vacuum' | 'properties' | 'write'>): Record<string, string> =>
    Object.fromEntries(
      commits.map((c, v) => [
        `${SINK_LOG}${commitName(v)}`,
        commitText(
          c === 'vacuum'
            ? [{ commitInfo: { timestamp: 1, operation: v % 2 ? 'VACUUM START' : 'VACUUM END', operationParameters: {} } }]
            : c === 'properties'
              ? [{ commitInfo: { timestamp: 1, operation: 'SET TBLPROPERTIES', operationParameters: { properties: '{"delta.logRetentionDuration":"interval 7 days"}' } } }, metaDataAction]
              : c === 'write'
                ? [sparkCommitInfo({ kind: 'manual fix' }), addAction(`fix-${v}.parquet`, 3)]
                : [sparkCommitInfo({ ...c, commitId: `c${v}` }, { operation: 'MERGE' }), addAction(`gold-${v}.parquet`, 10)],
        ),
      ]),
    );
  const accessDenied = () => new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'Access Denied' });

  test('never processed: the rows the source commit added are pending', async () => {
    serveBucket(s3, 'lake-bucket', sourceTable(0));
    await expect(handler({ source, sink })).resolves.toMatchObject({ pending: 400, mode: 'lake', sourceVersion: 0, reason: 'source never processed' });
    // the missing _last_checkpoint objects read as 404 (check-articles may list both logs); no data file is read
    expect(s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input.Key)).toEqual([`${SOURCE_LOG}_last_checkpoint`, `${SOURCE_LOG}${commitName(0)}`, `${SINK_LOG}_last_checkpoint`]);
    expect(s3.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input.Prefix)).toEqual([SOURCE_LOG, SINK_LOG]);
  });

  test('same version already processed: only retryable failures are pending', async () => {
    serveBucket(s3, 'lake-bucket', { ...sourceTable(2), ...sinkTable({ source: `${source}/`, sourceVersion: 1, retryable: 0 }, { source: `${source}/`, sourceVersion: 2, retryable: 2 }) });
    await expect(handler({ source, sink })).resolves.toMatchObject({ pending: 2, sourceVersion: 2, reason: 'failed rows below the attempt limit' });
    s3.reset();
    serveBucket(s3, 'lake-bucket', { ...sourceTable(2), ...sinkTable({ source, sourceVersion: 2, retryable: 0 }) });
    await expect(handler({ source, sink })).resolves.toMatchObject({ pending: 0, sourceVersion: 2, reason: 'source version already processed' });
  });

  test('new version without a row count: at least one pending', async () => {
    serveBucket(s3, 'lake-bucket', { ...sourceTable(3, null), ...sinkTable({ sourceVersion: 2, retryable: 0 }) });
    await expect(handler({ source, sink })).resolves.toMatchObject({ pending: 1, sourceVersion: 3, reason: 'new source version since the last run' });
  });

  test('a new source version that adds no file (a delete, a properties change): at least one pending', async () => {
    const objects = { ...sourceTable(2), ...sinkTable({ source, sourceVersion: 2, retryable: 0 }) };
    objects[`${SOURCE_LOG}${commitName(3)}`] = commitText([sparkCommitInfo(undefined, { operation: 'DELETE' }), removeAction('part-2.parquet')]);
    serveBucket(s3, 'lake-bucket', objects);
    await expect(handler({ source, sink })).resolves.toMatchObject({ pending: 1, sourceVersion: 3, reason: 'new source version since the last run' });
  });

  test('a state the sink got from another source says nothing about this one', async () => {
    serveBucket(s3, 'lake-bucket', { ...sourceTable(2, 7), ...sinkTable({ source: 's3://lake-bucket/bronze/news/other', sourceVersion: 2, retryable: 0 }) });
    await expect(handler({ source, sink })).resolves.toMatchObject({ pending: 7, reason: 'sink was last built from another source' });
  });

  test('the state is found behind sink commits that change no data (VACUUM, table properties)', async () => {
    serveBucket(s3, 'lake-bucket', { ...sourceTable(2), ...sinkTable({ source, sourceVersion: 2, retryable: 1 }, 'properties', 'vacuum', 'vacuum') });
    await expect(handler({ source, sink })).resolves.toMatchObject({ pending: 1, sourceVersion: 2, reason: 'failed rows below the attempt limit' });
    expect(s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input.Key).filter((k) => k!.startsWith(SINK_LOG))).toEqual(
      [`${SINK_LOG}_last_checkpoint`, ...[3, 2, 1, 0].map((v) => `${SINK_LOG}${commitName(v)}`)],
    );
  });

  test('a sink last written by another writer (a data commit without a state), or only maintenance past the lookback: not processed', async () => {
    serveBucket(s3, 'lake-bucket', { ...sourceTable(2), ...sinkTable({ source, sourceVersion: 2, retryable: 0 }, 'write', 'vacuum') });
    await expect(handler({ source, sink })).resolves.toMatchObject({ pending: 400, reason: 'sink was last written without a processing state' });
    s3.reset();
    const maintenance = Array.from({ length: STATE_LOOKBACK + 1 }, () => 'vacuum' as const);
    serveBucket(s3, 'lake-bucket', { ...sourceTable(2), ...sinkTable({ source, sourceVersion: 2, retryable: 0 }, ...maintenance) });
    await expect(handler({ source, sink })).resolves.toMatchObject({ pending: 400, reason: 'sink was last written without a processing state' });
    s3.reset();
    serveBucket(s3, 'lake-bucket', { ...sourceTable(2), ...sinkTable({ source, sourceVersion: 2, retryable: 0 }, ...maintenance.slice(1)) });
    await expect(handler({ source, sink })).resolves.toMatchObject({ pending: 0, reason: 'source version already processed' });
  });

  test('a processing state of the wrong shape is an error naming the sink version', async () => {
    serveBucket(s3, 'lake-bucket', { ...sourceTable(2), ...sinkTable({ source, sourceVersion: 'v2', retryable: 0 }) });
    await expect(handler({ source, sink })).rejects.toThrow(`${sink} version 0: commitInfo.userMetadata is not a valid processing state: sourceVersion:`);
  });

  test('no committed source: nothing pending', async () => {
    serveBucket(s3, 'lake-bucket', sinkTable({ source, sourceVersion: 2, retryable: 3 }));
    await expect(handler({ source, sink })).resolves.toMatchObject({ pending: 0, sourceVersion: null, reason: 'source dataset has no committed version' });
  });

  test('a 403 on the sink log is an error, never "not processed yet" (which would re-run the job every hour)', async () => {
    serveBucket(s3, 'lake-bucket', sourceTable(2));
    s3.on(GetObjectCommand, { Key: `${SINK_LOG}_last_checkpoint` }).rejects(accessDenied());
    await expect(handler({ source, sink })).rejects.toMatchObject({ name: 'AccessDenied' });
    s3.reset();
    serveBucket(s3, 'lake-bucket', sourceTable(2));
    s3.on(ListObjectsV2Command, { Prefix: SINK_LOG }).rejects(accessDenied());
    await expect(handler({ source, sink })).rejects.toMatchObject({ name: 'AccessDenied' });
    s3.reset();
    serveBucket(s3, 'lake-bucket', sourceTable(2), { canList: false }); // without s3:ListBucket a missing key is 403
    await expect(handler({ source, sink })).rejects.toMatchObject({ name: 'AccessDenied' });
  });

  test('bad input is rejected naming the field', async () => {
    await expect(handler({ source: '/tmp/articles', sink })).rejects.toThrow(/^source: /);
    await expect(handler({ source, sink, extra: 1 })).rejects.toThrow(/extra|Unrecognized/);
    await expect(handler({ source })).rejects.toThrow(/^sink: required in lake mode/);
  });
});
