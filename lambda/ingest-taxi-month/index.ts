/**
 * Streams monthly TLC yellow-trip files from an HTTP(S) URL template into the lake's bronze tier:
 * `s3://<LAKE_BUCKET>/bronze/taxi/yellow/year=YYYY/month=MM/yellow_tripdata_YYYY-MM.parquet`.
 *
 * The body is piped straight into `@aws-sdk/lib-storage` `Upload` (multipart for large files), never buffered
 * whole in memory. The object appears only when the upload completes (S3 multipart semantics), so a failed
 * download leaves no partial object; a body shorter or longer than the response's `Content-Length`, or one that
 * is not a Parquet file (no `PAR1` magic), fails the upload before it completes.
 *
 * Resumable: a month whose bronze object is complete is skipped — HeadObject finds it and its size equals the
 * source's `Content-Length` (HTTP HEAD). An absent object (HeadObject 404; the role may `s3:ListBucket`
 * `bronze/taxi/*`, so S3 answers a missing key with 404, not 403), a partial or different one (size differs),
 * or a source that does not state its size is downloaded. Any other HeadObject answer (403 …) is an error, never
 * "missing". The state machine invokes this once per month (a Map state), so a re-run downloads only what is
 * missing and each month has the Lambda's whole 15 minutes.
 *
 * Errors: `ValidationError` (bad input), `IngestError` (the source answers 4xx, is not Parquet, S3 denies),
 * `IngestTransientError` (network failure, HTTP 408/429/5xx, S3 throttling/5xx during the upload, a truncated
 * body) — the state machine retries the latter.
 *
 * Input: `{"months": ["YYYY-MM"], "sourceUrlTemplate": "https://…/yellow_tripdata_{month}.parquet"}`;
 * placeholders `{month}` (YYYY-MM), `{year}` (YYYY), `{mm}` (MM).
 * Output: `{"objects": [{"month", "uri", "bytes", "skipped"}], "bytes": total, "downloadedBytes": n}`.
 */
import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
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
  /** True when the object was already complete in bronze and nothing was downloaded. */
  readonly skipped: boolean;
}
export interface IngestTaxiMonthOutput {
  readonly objects: IngestedObject[];
  /** Size of all the months' objects. */
  readonly bytes: number;
  /** Bytes downloaded by this invocation (0 when every month was skipped). */
  readonly downloadedBytes: number;
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

/** A failure a retry may cure (network, throttling, server errors, a truncated body). */
export class IngestTransientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IngestTransientError';
  }
}

/** HTTP statuses of the source worth retrying. */
function transientStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * Whether a failed S3 call or upload is worth retrying: throttling, 5xx, 408/429, or no HTTP answer at all (a reset
 * connection, a download stream that broke off). Our own IngestError (not Parquet) and S3's 4xx (AccessDenied …)
 * are not.
 */
function transientFailure(error: unknown): boolean {
  if (error instanceof IngestTransientError) return true;
  if (error instanceof IngestError) return false;
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  if (status === undefined) return true;
  return transientStatus(status) || ['SlowDown', 'ThrottlingException', 'RequestTimeout'].includes(e?.name ?? '');
}

export function sourceUrl(template: string, month: string): string {
  const [year, mm] = month.split('-');
  return template.replaceAll('{month}', month).replaceAll('{year}', year).replaceAll('{mm}', mm);
}

export function bronzeKey(month: string): string {
  const [year, mm] = month.split('-');
  return `bronze/taxi/yellow/year=${year}/month=${mm}/yellow_tripdata_${month}.parquet`;
}

/**
 * Counts bytes, checks the Parquet magic number at the start of the stream and, when the response stated its
 * length, that exactly that many bytes arrived (else the upload fails before it completes).
 */
class ParquetByteCounter extends Transform {
  public bytes = 0;
  private head = Buffer.alloc(0);

  constructor(private readonly expectedBytes?: number) {
    super();
  }

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
    if (this.expectedBytes !== undefined && this.bytes !== this.expectedBytes) {
      callback(new IngestTransientError(`response body has ${this.bytes} bytes, Content-Length said ${this.expectedBytes}`));
      return;
    }
    callback();
  }
}

/** `Content-Length` of a response, when it states one. */
function contentLength(response: Response): number | undefined {
  const header = response.headers.get('content-length');
  if (header === null || !/^\d+$/.test(header)) return undefined;
  return Number(header);
}

/** Size of the bronze object, or undefined when it does not exist (HeadObject 404). Other answers throw. */
export async function existingSize(s3: S3Client, bucket: string, key: string): Promise<number | undefined> {
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return head.ContentLength ?? 0;
  } catch (error) {
    const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
    const status = e?.$metadata?.httpStatusCode;
    if (status === 404 || e?.name === 'NotFound' || e?.name === 'NoSuchKey') return undefined;
    const what = `HeadObject s3://${bucket}/${key}: ${e?.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}`;
    if (status === 403) {
      throw new IngestError(`${what}; a missing key is 403 without s3:ListBucket on the bucket for this prefix — not treated as missing`);
    }
    if (transientFailure(error)) throw new IngestTransientError(what);
    throw new IngestError(what);
  }
}

/** Size the source states for a month (HTTP HEAD), or undefined when it does not say. */
async function sourceSize(url: string, fetchImpl: typeof fetch): Promise<number | undefined> {
  try {
    const response = await fetchImpl(url, { method: 'HEAD', redirect: 'follow' });
    return response.ok ? contentLength(response) : undefined;
  } catch {
    return undefined; // the GET that follows reports the source's failure
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
  const key = bronzeKey(month);
  const uri = `s3://${bucket}/${key}`;

  const present = await existingSize(s3, bucket, key);
  if (present !== undefined) {
    const expected = await sourceSize(url, fetchImpl);
    if (expected !== undefined && expected === present) return { month, uri, bytes: present, skipped: true };
    logger.info('bronze object incomplete or different, downloading again', { month, uri, bytes: present, sourceBytes: expected });
  }

  let response: Response;
  try {
    response = await fetchImpl(url, { redirect: 'follow' });
  } catch (error) {
    const reason = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
    throw new IngestTransientError(`month ${month}: GET ${url} failed: ${reason}`);
  }
  if (!response.ok || !response.body) {
    const message = `month ${month}: GET ${url} answered HTTP ${response.status}`;
    throw transientStatus(response.status) ? new IngestTransientError(message) : new IngestError(message);
  }
  const counter = new ParquetByteCounter(contentLength(response));
  const body = Readable.fromWeb(response.body as unknown as WebReadableStream<Uint8Array>).pipe(counter);
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
    const message = `month ${month}: upload of ${url} failed: ${reason}`;
    throw transientFailure(error) ? new IngestTransientError(message) : new IngestError(message);
  }
  return { month, uri, bytes: counter.bytes, skipped: false };
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
  // One month at a time: each file is large and the Lambda's memory/bandwidth is the limit, not latency. (The
  // state machine passes one month per invocation; several months in one call still work.)
  for (const month of [...new Set(parsed.data.months)].sort()) {
    const object = await ingestMonth(s3Client, bucket, parsed.data.sourceUrlTemplate, month);
    logger.info(object.skipped ? 'month already complete in bronze, skipped' : 'ingested month', { ...object });
    objects.push(object);
  }
  return {
    objects,
    bytes: objects.reduce((sum, o) => sum + o.bytes, 0),
    downloadedBytes: objects.reduce((sum, o) => sum + (o.skipped ? 0 : o.bytes), 0),
  };
};
