import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, HeadObjectCommand, PutObjectCommand,
  S3Client, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { bronzeKey, handler, sourceUrl } from '../lambda/ingest-taxi-month/index';
import type { Authorizer } from '../local/iam';
import { AuthorizedS3 } from './support/authorized-s3';
import { synthPlatform } from './support/cdk-platform';
import { bucketName, deployedIam, functionRole } from './support/local-iam';

const s3 = mockClient(S3Client);

/** S3 as it answers the ingest function's role of the synthesized dev stack (a missing key: 404 only with s3:ListBucket). */
const iam = deployedIam(synthPlatform('dev').template);
const LAKE = bucketName(iam.deployment, 'StorageLake');
const INGEST_ROLE = functionRole(iam.authz.store, 'IngestTaxiMonth');

/** A Parquet-looking payload (PAR1 … PAR1) of `size` bytes with deterministic content. */
function parquetBytes(size: number, seed: number): Buffer {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buf[i] = (i * 31 + seed) % 251;
  buf.write('PAR1', 0, 'ascii');
  buf.write('PAR1', size - 4, 'ascii');
  return buf;
}

async function bodyBytes(body: unknown): Promise<Buffer> {
  if (Buffer.isBuffer(body) || body instanceof Uint8Array) return Buffer.from(body as Uint8Array);
  if (typeof body === 'string') return Buffer.from(body);
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Buffer>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

describe('ingest-taxi-month', () => {
  const files: Record<string, Buffer> = {
    '/trip-data/yellow_tripdata_2024-01.parquet': parquetBytes(64 * 1024, 1),
    '/trip-data/yellow_tripdata_2024-02.parquet': parquetBytes(11 * 1024 * 1024, 2), // > 1 part: multipart
    '/trip-data/yellow_tripdata_2024-03.parquet': Buffer.from('<html>not found page</html>'),
  };
  let server: Server;
  let base: string;
  const saved = { ...process.env };
  /** `METHOD path` of every request the source received. */
  const requests: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      const file = files[req.url ?? ''];
      if (!file) {
        res.writeHead(404).end('missing');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': file.length });
      // Stream in small chunks, as a real download arrives.
      let offset = 0;
      const pump = () => {
        while (offset < file.length) {
          const next = file.subarray(offset, offset + 64 * 1024);
          offset += next.length;
          if (!res.write(next)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/trip-data`;
  });
  afterAll(async () => {
    process.env = saved;
    await new Promise((resolve) => server.close(resolve));
  });

  const uploads = new Map<string, Buffer[]>();
  let lake: AuthorizedS3;
  beforeEach(() => {
    s3.reset();
    uploads.clear();
    requests.length = 0;
    process.env = { ...saved, LAKE_BUCKET: LAKE, AWS_REGION: 'eu-west-1' };
    // HeadObject/GetObject answered as S3 answers the function's role; what the handler uploads lands in the same store
    lake = new AuthorizedS3(iam.authz, INGEST_ROLE).bucket(LAKE).install(s3);
    s3.on(PutObjectCommand).callsFake(async (input) => {
      const body = await bodyBytes(input.Body);
      uploads.set(input.Key, [body]);
      lake.put(input.Bucket, input.Key, body);
      return { ETag: '"single"' };
    });
    s3.on(CreateMultipartUploadCommand).callsFake(async (input) => {
      uploads.set(input.Key, []);
      return { UploadId: `upload-${input.Key}` };
    });
    s3.on(UploadPartCommand).callsFake(async (input) => {
      const parts = uploads.get(input.Key)!;
      parts[input.PartNumber - 1] = await bodyBytes(input.Body);
      return { ETag: `"part-${input.PartNumber}"` };
    });
    s3.on(CompleteMultipartUploadCommand).callsFake(async (input) => {
      lake.put(input.Bucket, input.Key, Buffer.concat(uploads.get(input.Key)!));
      return { ETag: '"multi"' };
    });
    s3.on(AbortMultipartUploadCommand).resolves({});
  });

  const template = () => `${base}/yellow_tripdata_{month}.parquet`;
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  test('streams each month byte-for-byte into the bronze layout', async () => {
    const result = await handler({ months: ['2024-02', '2024-01'], sourceUrlTemplate: template() });
    expect(result.objects).toEqual([
      { month: '2024-01', uri: `s3://${LAKE}/bronze/taxi/yellow/year=2024/month=01/yellow_tripdata_2024-01.parquet`, bytes: 64 * 1024, skipped: false },
      { month: '2024-02', uri: `s3://${LAKE}/bronze/taxi/yellow/year=2024/month=02/yellow_tripdata_2024-02.parquet`, bytes: 11 * 1024 * 1024, skipped: false },
    ]);
    expect(result.bytes).toBe(64 * 1024 + 11 * 1024 * 1024);
    expect(result.downloadedBytes).toBe(result.bytes);
    const jan = Buffer.concat(uploads.get(bronzeKey('2024-01'))!);
    const feb = Buffer.concat(uploads.get(bronzeKey('2024-02'))!);
    expect(sha(jan)).toBe(sha(files['/trip-data/yellow_tripdata_2024-01.parquet']));
    expect(sha(feb)).toBe(sha(files['/trip-data/yellow_tripdata_2024-02.parquet']));
    // The 11 MiB file went up as a multipart upload (8 MiB parts), never as one buffered PUT.
    expect(s3.commandCalls(UploadPartCommand).length).toBe(2);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)[0].args[0].input.Key).toBe(bronzeKey('2024-02'));
  });

  const JAN = '/trip-data/yellow_tripdata_2024-01.parquet';
  const FEB = '/trip-data/yellow_tripdata_2024-02.parquet';

  test('a month whose bronze object is complete (its size = the source\'s Content-Length) is skipped, not downloaded', async () => {
    lake.put(LAKE, bronzeKey('2024-01'), files[JAN]);
    const result = await handler({ months: ['2024-01'], sourceUrlTemplate: template() });
    expect(result.objects).toEqual([{ month: '2024-01', uri: `s3://${LAKE}/${bronzeKey('2024-01')}`, bytes: 64 * 1024, skipped: true }]);
    expect(result.downloadedBytes).toBe(0);
    expect(requests).toEqual([`HEAD ${JAN}`]); // only the size was asked for
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
    expect(s3.commandCalls(CreateMultipartUploadCommand)).toHaveLength(0);
  });

  test('a partial (or different) bronze object is downloaded again', async () => {
    lake.put(LAKE, bronzeKey('2024-02'), files[FEB].subarray(0, 3 * 1024 * 1024)); // e.g. a copy that broke off
    const result = await handler({ months: ['2024-02'], sourceUrlTemplate: template() });
    expect(result.objects).toEqual([expect.objectContaining({ month: '2024-02', bytes: 11 * 1024 * 1024, skipped: false })]);
    expect(requests).toEqual([`HEAD ${FEB}`, `GET ${FEB}`]);
    expect(sha(Buffer.concat(uploads.get(bronzeKey('2024-02'))!))).toBe(sha(files[FEB]));
  });

  test('an absent object: HeadObject answers 404 to the function\'s role (it may s3:ListBucket bronze/taxi/), so the month is downloaded', async () => {
    const result = await handler({ months: ['2024-01'], sourceUrlTemplate: template() });
    expect(result.objects[0]).toMatchObject({ month: '2024-01', skipped: false });
    expect(requests).toEqual([`GET ${JAN}`]); // no size check needed: nothing there
    const head = s3.commandCalls(HeadObjectCommand);
    expect(head).toHaveLength(1);
    await expect(head[0].returnValue).rejects.toMatchObject({ name: 'NotFound', $metadata: { httpStatusCode: 404 } });
  });

  test('a re-run downloads only the months not yet complete', async () => {
    lake.put(LAKE, bronzeKey('2024-01'), files[JAN]);
    await expect(handler({ months: ['2024-01', '2024-02', '2024-03'], sourceUrlTemplate: template() })).rejects.toThrow(/month 2024-03: .*not a Parquet file/);
    expect(lake.keys(LAKE)).toEqual([bronzeKey('2024-01'), bronzeKey('2024-02')]);
    requests.length = 0;
    const again = await handler({ months: ['2024-01', '2024-02'], sourceUrlTemplate: template() });
    expect(again.objects.map((o) => o.skipped)).toEqual([true, true]);
    expect(requests).toEqual([`HEAD ${JAN}`, `HEAD ${FEB}`]);
  });

  test('without s3:ListBucket a missing key is 403, and that is an error — never "missing", nothing downloaded', async () => {
    // GetObject allowed, ListBucket not: S3 hides whether the key exists and answers HEAD with 403 Forbidden
    const noList = { authorize: async () => ({ allowed: true }), mayListBucket: async () => false } as unknown as Authorizer;
    lake.actAs(noList);
    await expect(handler({ months: ['2024-01'], sourceUrlTemplate: template() })).rejects.toThrow(
      new RegExp(`^HeadObject s3://${LAKE}/bronze/taxi/yellow/year=2024/month=01/yellow_tripdata_2024-01\\.parquet: Forbidden \\(HTTP 403\\).*s3:ListBucket`),
    );
    await expect(handler({ months: ['2024-01'], sourceUrlTemplate: template() })).rejects.toMatchObject({ name: 'IngestError' });
    expect(requests).toEqual([]);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  test('a source 5xx is IngestTransientError (the state machine retries it), a 404 is IngestError', async () => {
    const failing = createServer((_req, res) => res.writeHead(503).end('busy'));
    await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(failing.address() as AddressInfo).port}/t_{month}.parquet`;
      await expect(handler({ months: ['2024-04'], sourceUrlTemplate: url })).rejects.toMatchObject({ name: 'IngestTransientError', message: expect.stringMatching(/HTTP 503/) });
      await expect(handler({ months: ['2023-07'], sourceUrlTemplate: template() })).rejects.toMatchObject({ name: 'IngestError' });
    } finally {
      await new Promise((resolve) => failing.close(resolve));
    }
  });

  test('a missing month fails naming the month and the HTTP status', async () => {
    await expect(handler({ months: ['2023-07'], sourceUrlTemplate: template() }))
      .rejects.toThrow(/month 2023-07: GET .*yellow_tripdata_2023-07\.parquet answered HTTP 404/);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  test('a response that is not Parquet is rejected and nothing is stored', async () => {
    await expect(handler({ months: ['2024-03'], sourceUrlTemplate: template() }))
      .rejects.toThrow(/month 2024-03: .*not a Parquet file/);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)).toHaveLength(0);
    expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
  });

  test('invalid input is rejected naming the field', async () => {
    await expect(handler({ months: ['2024-13'], sourceUrlTemplate: template() })).rejects.toThrow(/^months\.0: must be YYYY-MM/);
    await expect(handler({ months: [], sourceUrlTemplate: template() })).rejects.toThrow(/^months: /);
    await expect(handler({ months: ['2024-01'], sourceUrlTemplate: 'ftp://x/{month}' })).rejects.toThrow(/^sourceUrlTemplate: /);
    await expect(handler({ months: ['2024-01'], sourceUrlTemplate: 'https://x/fixed.parquet' })).rejects.toThrow(/\{month\}/);
  });

  test('URL placeholders', () => {
    expect(sourceUrl('https://h/{year}/{mm}/t_{month}.parquet', '2024-05')).toBe('https://h/2024/05/t_2024-05.parquet');
  });
});
