import { Readable } from 'node:stream';
import { GetObjectCommand, NoSuchKey, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { sdkStreamMixin } from '@smithy/core/serde';
import { mockClient } from 'aws-sdk-client-mock';
import { handler } from '../lambda/check-articles/index';
import { migrationSql, startPgServer, type PgServer } from './support/pg-server';

const s3 = mockClient(S3Client);
const secrets = mockClient(SecretsManagerClient);
const body = (value: unknown) => sdkStreamMixin(Readable.from([Buffer.from(JSON.stringify(value))]));
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
        password: pg.password, dbname: pg.database }),
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

describe('check-articles: lake mode', () => {
  beforeEach(() => s3.reset());
  const source = 's3://lake-bucket/bronze/news/articles';
  const sink = 's3://lake-bucket/gold/news/articles';
  const STATE = 'gold/news/articles/_ml_state.json'; // beside the sink: ml_processing writes it where it writes gold
  // as S3 answers a role that may list the prefix (check-articles may list bronze/news/ and gold/news/): 404
  const missing = () => new NoSuchKey({ message: 'missing', $metadata: { httpStatusCode: 404 } });

  test('never processed: the pointer row count is pending', async () => {
    s3.on(GetObjectCommand, { Bucket: 'lake-bucket', Key: 'bronze/news/articles/_CURRENT' })
      .callsFake(() => ({ Body: body({ version: 'v1', path: `${source}/_versions/v1`, rows: 400 }) }) as never);
    s3.on(GetObjectCommand, { Bucket: 'lake-bucket', Key: STATE }).rejects(missing());
    await expect(handler({ source, sink })).resolves.toMatchObject({ pending: 400, mode: 'lake', sourceVersion: 'v1', reason: 'source never processed' });
    expect(s3.commandCalls(GetObjectCommand).map((c) => c.args[0].input.Key)).toEqual(['bronze/news/articles/_CURRENT', STATE]);
  });

  test('same version already processed: only retryable failures are pending', async () => {
    s3.on(GetObjectCommand, { Key: 'bronze/news/articles/_CURRENT' }).callsFake(() => ({ Body: body({ version: 'v2' }) }) as never);
    s3.on(GetObjectCommand, { Key: STATE }).callsFake(() => ({ Body: body({ source: `${source}/`, sourceVersion: 'v2', retryable: 2 }) }) as never);
    await expect(handler({ source, sink })).resolves.toMatchObject({ pending: 2, sourceVersion: 'v2' });
    s3.on(GetObjectCommand, { Key: STATE }).callsFake(() => ({ Body: body({ source, sourceVersion: 'v2', retryable: 0 }) }) as never);
    await expect(handler({ source, sink })).resolves.toMatchObject({ pending: 0 });
  });

  test('new version without a row count: at least one pending', async () => {
    s3.on(GetObjectCommand, { Key: 'bronze/news/articles/_CURRENT' }).callsFake(() => ({ Body: body({ version: 'v3' }) }) as never);
    s3.on(GetObjectCommand, { Key: STATE }).callsFake(() => ({ Body: body({ sourceVersion: 'v2', retryable: 0 }) }) as never);
    await expect(handler({ source, sink })).resolves.toMatchObject({ pending: 1, reason: 'new source version since the last run' });
  });

  test('a state the sink got from another source says nothing about this one', async () => {
    s3.on(GetObjectCommand, { Key: 'bronze/news/articles/_CURRENT' }).callsFake(() => ({ Body: body({ version: 'v2', rows: 7 }) }) as never);
    s3.on(GetObjectCommand, { Key: STATE })
      .callsFake(() => ({ Body: body({ source: 's3://lake-bucket/bronze/news/other', sourceVersion: 'v2', retryable: 0 }) }) as never);
    await expect(handler({ source, sink })).resolves.toMatchObject({ pending: 7, reason: 'sink was last built from another source' });
  });

  test('no committed source: nothing pending', async () => {
    s3.on(GetObjectCommand).rejects(missing());
    await expect(handler({ source, sink })).resolves.toMatchObject({ pending: 0 });
  });

  test('a 403 on the state is an error, never "not processed yet" (which would re-run the job every hour)', async () => {
    s3.on(GetObjectCommand, { Key: 'bronze/news/articles/_CURRENT' }).callsFake(() => ({ Body: body({ version: 'v2' }) }) as never);
    s3.on(GetObjectCommand, { Key: STATE }).rejects(
      new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'Access Denied' }),
    );
    await expect(handler({ source, sink })).rejects.toMatchObject({ name: 'AccessDenied' });
  });

  test('bad input is rejected naming the field', async () => {
    await expect(handler({ source: '/tmp/articles', sink })).rejects.toThrow(/^source: /);
    await expect(handler({ source, sink, extra: 1 })).rejects.toThrow(/extra|Unrecognized/);
    await expect(handler({ source })).rejects.toThrow(/^sink: required in lake mode/);
  });
});
