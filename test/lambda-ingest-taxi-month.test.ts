import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, PutObjectCommand,
  S3Client, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { bronzeKey, handler, sourceUrl } from '../lambda/ingest-taxi-month/index';

const s3 = mockClient(S3Client);

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

  beforeAll(async () => {
    server = createServer((req, res) => {
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
  beforeEach(() => {
    s3.reset();
    uploads.clear();
    process.env = { ...saved, LAKE_BUCKET: 'lake-bucket', AWS_REGION: 'eu-west-1' };
    s3.on(PutObjectCommand).callsFake(async (input) => {
      uploads.set(input.Key, [await bodyBytes(input.Body)]);
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
    s3.on(CompleteMultipartUploadCommand).resolves({ ETag: '"multi"' });
    s3.on(AbortMultipartUploadCommand).resolves({});
  });

  const template = () => `${base}/yellow_tripdata_{month}.parquet`;
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  test('streams each month byte-for-byte into the bronze layout', async () => {
    const result = await handler({ months: ['2024-02', '2024-01'], sourceUrlTemplate: template() });
    expect(result.objects).toEqual([
      { month: '2024-01', uri: 's3://lake-bucket/bronze/taxi/yellow/year=2024/month=01/yellow_tripdata_2024-01.parquet', bytes: 64 * 1024 },
      { month: '2024-02', uri: 's3://lake-bucket/bronze/taxi/yellow/year=2024/month=02/yellow_tripdata_2024-02.parquet', bytes: 11 * 1024 * 1024 },
    ]);
    expect(result.bytes).toBe(64 * 1024 + 11 * 1024 * 1024);
    const jan = Buffer.concat(uploads.get(bronzeKey('2024-01'))!);
    const feb = Buffer.concat(uploads.get(bronzeKey('2024-02'))!);
    expect(sha(jan)).toBe(sha(files['/trip-data/yellow_tripdata_2024-01.parquet']));
    expect(sha(feb)).toBe(sha(files['/trip-data/yellow_tripdata_2024-02.parquet']));
    // The 11 MiB file went up as a multipart upload (8 MiB parts), never as one buffered PUT.
    expect(s3.commandCalls(UploadPartCommand).length).toBe(2);
    expect(s3.commandCalls(CompleteMultipartUploadCommand)[0].args[0].input.Key).toBe(bronzeKey('2024-02'));
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
