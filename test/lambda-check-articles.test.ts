import { Readable } from 'node:stream';
import { GetObjectCommand, NoSuchKey, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { sdkStreamMixin } from '@smithy/core/serde';
import { mockClient } from 'aws-sdk-client-mock';
import type { ClientConfig } from 'pg';
import { CONNECT_RETRY, countDbPending, DatabaseUnavailableError, handler, isResumingError, tlsOptions, type PgConnection } from '../lambda/check-articles/index';
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
