/**
 * Streams monthly TLC yellow-trip files from an HTTP(S) URL template into the lake's bronze tier:
 * `s3://<LAKE_BUCKET>/bronze/taxi/yellow/year=YYYY/month=MM/yellow_tripdata_YYYY-MM.parquet`.
 *
 * The body is piped straight into `@aws-sdk/lib-storage` `Upload` (multipart for large files), never buffered
 * whole in memory. The object appears only when the upload completes (S3 multipart semantics), so a failed
 * download leaves no partial object. A response that is not a Parquet file (no `PAR1` magic) is rejected.
 *
 * Input: `{"months": ["YYYY-MM"], "sourceUrlTemplate": "https://…/yellow_tripdata_{month}.parquet"}`;
 * placeholders `{month}` (YYYY-MM), `{year}` (YYYY), `{mm}` (MM).
 * Output: `{"objects": [{"month", "uri", "bytes"}], "bytes": total}`.
 */
import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Logger } from '@aws-lambda-powertools/logger';
import * as z from 'zod';

const logger = new Logger({ serviceName: 'ingest-taxi-month' });

const PARQUET_MAGIC = Buffer.from('PAR1', 'ascii');

export const IngestTaxiMonthInput = z.strictObject({
  months: z
    .array(z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be YYYY-MM'))
    .min(1, 'must name at least one month')
    .max(120),
  sourceUrlTemplate: z
    .string()
    .regex(/^https?:\/\/[^\s]+$/, 'must be an http(s) URL')
    .refine((t) => t.includes('{month}') || (t.includes('{year}') && t.includes('{mm}')), {
      message: 'must contain {month} (or {year} and {mm})',
    }),
});
export type IngestTaxiMonthInput = z.infer<typeof IngestTaxiMonthInput>;

export interface IngestedObject {
  readonly month: string;
  readonly uri: string;
  readonly bytes: number;
}
export interface IngestTaxiMonthOutput {
  readonly objects: IngestedObject[];
  readonly bytes: number;
}

export class ValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValidationError';
  }
}

export class IngestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IngestError';
  }
}

export function sourceUrl(template: string, month: string): string {
  const [year, mm] = month.split('-');
  return template.replaceAll('{month}', month).replaceAll('{year}', year).replaceAll('{mm}', mm);
}

export function bronzeKey(month: string): string {
  const [year, mm] = month.split('-');
  return `bronze/taxi/yellow/year=${year}/month=${mm}/yellow_tripdata_${month}.parquet`;
}

/** Counts bytes and checks the Parquet magic number at the start of the stream. */
class ParquetByteCounter extends Transform {
  public bytes = 0;
  private head = Buffer.alloc(0);

  _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.head.length < PARQUET_MAGIC.length) {
      this.head = Buffer.concat([this.head, chunk]).subarray(0, PARQUET_MAGIC.length);
      if (this.head.length === PARQUET_MAGIC.length && !this.head.equals(PARQUET_MAGIC)) {
        callback(new IngestError('response body is not a Parquet file (missing PAR1 magic)'));
        return;
      }
    }
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  _flush(callback: TransformCallback): void {
    if (this.bytes < PARQUET_MAGIC.length) {
      callback(new IngestError('response body is not a Parquet file (too short)'));
      return;
    }
    callback();
  }
}

export async function ingestMonth(
  s3: S3Client,
  bucket: string,
  template: string,
  month: string,
  fetchImpl: typeof fetch = fetch,
): Promise<IngestedObject> {
  const url = sourceUrl(template, month);
  const response = await fetchImpl(url, { redirect: 'follow' });
  if (!response.ok || !response.body) {
    throw new IngestError(`month ${month}: GET ${url} answered HTTP ${response.status}`);
  }
  const counter = new ParquetByteCounter();
  const body = Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>).pipe(counter);
  const key = bronzeKey(month);
  const upload = new Upload({
    client: s3,
    params: { Bucket: bucket, Key: key, Body: body, ContentType: 'application/vnd.apache.parquet' },
    queueSize: 4,
    partSize: 8 * 1024 * 1024,
    leavePartsOnError: false,
  });
  try {
    await upload.done();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new IngestError(`month ${month}: upload of ${url} failed: ${reason}`);
  }
  return { month, uri: `s3://${bucket}/${key}`, bytes: counter.bytes };
}

const s3Client = new S3Client({});

export const handler = async (event: unknown): Promise<IngestTaxiMonthOutput> => {
  const parsed = IngestTaxiMonthInput.safeParse(event);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ValidationError(`${issue.path.join('.') || '(input)'}: ${issue.message}`);
  }
  const bucket = process.env.LAKE_BUCKET;
  if (!bucket) throw new Error('LAKE_BUCKET is not set');
  const objects: IngestedObject[] = [];
  // One month at a time: each file is large and the Lambda's memory/bandwidth is the limit, not latency.
  for (const month of [...new Set(parsed.data.months)].sort()) {
    const object = await ingestMonth(s3Client, bucket, parsed.data.sourceUrlTemplate, month);
    logger.info('ingested month', { ...object });
    objects.push(object);
  }
  return { objects, bytes: objects.reduce((sum, o) => sum + o.bytes, 0) };
};
