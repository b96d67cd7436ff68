import { Readable } from 'node:stream';
import { GetObjectCommand, ListObjectsV2Command, NoSuchKey, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/core/serde';
import type { AwsClientStub } from 'aws-sdk-client-mock';

/**
 * An S3 bucket for aws-sdk-client-mock answering GetObject and ListObjectsV2 as S3 does: keys in UTF-8 binary
 * order, `Prefix`, `StartAfter` (ignored once a `ContinuationToken` is given), pages of at most `MaxKeys` (1000 by
 * default and at most), `IsTruncated` + an opaque `NextContinuationToken`; a missing key is NoSuchKey (404) to a
 * caller that may list the bucket and AccessDenied (403) to one that may not (`canList: false`), which is also
 * denied ListObjectsV2. Other buckets: NoSuchBucket.
 */
export interface FakeBucket {
  readonly objects: Map<string, string>;
  /** Every ListObjectsV2 input and the keys S3 returned for it. */
  readonly listings: Array<{ readonly input: Record<string, unknown>; readonly keys: string[] }>;
}

const accessDenied = () =>
  new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: 'Access Denied' });

export function serveBucket(
  s3: AwsClientStub<S3Client>,
  bucket: string,
  objects: Record<string, string> | Map<string, string>,
  options: { readonly canList?: boolean } = {},
): FakeBucket {
  const canList = options.canList ?? true;
  const store = objects instanceof Map ? objects : new Map(Object.entries(objects));
  const fake: FakeBucket = { objects: store, listings: [] };
  const noSuchBucket = () => new S3ServiceException({ name: 'NoSuchBucket', $fault: 'client', $metadata: { httpStatusCode: 404 }, message: 'The specified bucket does not exist' });
  s3.on(GetObjectCommand).callsFake((input: { Bucket: string; Key: string }) => {
    if (input.Bucket !== bucket) throw noSuchBucket();
    const body = store.get(input.Key);
    if (body === undefined) throw canList ? new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } }) : accessDenied();
    return { Body: sdkStreamMixin(Readable.from([Buffer.from(body)])), ContentLength: Buffer.byteLength(body) };
  });
  s3.on(ListObjectsV2Command).callsFake((input: { Bucket: string; Prefix?: string; StartAfter?: string; ContinuationToken?: string; MaxKeys?: number }) => {
    if (input.Bucket !== bucket) throw noSuchBucket();
    if (!canList) throw accessDenied();
    const after = input.ContinuationToken !== undefined ? Buffer.from(input.ContinuationToken, 'base64url').toString('utf8') : input.StartAfter;
    const max = Math.min(input.MaxKeys ?? 1000, 1000);
    const matching = [...store.keys()]
      .filter((k) => k.startsWith(input.Prefix ?? '') && (after === undefined || Buffer.compare(Buffer.from(k), Buffer.from(after)) > 0))
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const page = matching.slice(0, max);
    const truncated = matching.length > page.length;
    fake.listings.push({ input: { ...input }, keys: page });
    return {
      Name: bucket,
      Prefix: input.Prefix,
      ...(input.StartAfter !== undefined ? { StartAfter: input.StartAfter } : {}),
      ...(input.ContinuationToken !== undefined ? { ContinuationToken: input.ContinuationToken } : {}),
      KeyCount: page.length,
      MaxKeys: max,
      IsTruncated: truncated,
      ...(truncated ? { NextContinuationToken: Buffer.from(page.at(-1)!).toString('base64url') } : {}),
      ...(page.length > 0 ? { Contents: page.map((Key) => ({ Key, Size: Buffer.byteLength(store.get(Key)!) })) } : {}),
    };
  });
  return fake;
}

/** `_delta_log/<20 digits>.json` of version `n`. */
export const commitName = (n: number) => `${String(n).padStart(20, '0')}.json`;

/** A commit file's text: one JSON action per line, as Spark and delta-rs write them. */
export function commitText(actions: ReadonlyArray<Record<string, unknown>>): string {
  return actions.map((a) => JSON.stringify(a)).join('\n') + '\n';
}

export const addAction = (path: string, numRecords?: number, extra: Record<string, unknown> = {}) => ({
  add: {
    path,
    partitionValues: {},
    size: 1234,
    modificationTime: 1_790_000_000_000,
    dataChange: true,
    ...(numRecords === undefined ? {} : { stats: JSON.stringify({ numRecords, minValues: {}, maxValues: {}, nullCount: {} }) }),
    ...extra,
  },
});
export const removeAction = (path: string, extra: Record<string, unknown> = {}) => ({
  remove: { path, deletionTimestamp: 1_790_000_000_000, dataChange: true, extendedFileMetadata: true, partitionValues: {}, size: 1234, ...extra },
});
/** Spark's commitInfo of a DataFrameWriter `mode("overwrite")` save, `userMetadata` as the writer option sets it. */
export const sparkCommitInfo = (userMetadata?: unknown, extra: Record<string, unknown> = {}) => ({
  commitInfo: {
    timestamp: 1_790_000_000_000,
    operation: 'WRITE',
    operationParameters: { mode: 'Overwrite', partitionBy: '[]' },
    isolationLevel: 'Serializable',
    isBlindAppend: false,
    operationMetrics: { numFiles: '1', numOutputRows: '3', numOutputBytes: '1234' },
    engineInfo: 'Apache-Spark/4.0.2 Delta-Lake/4.0.0',
    txnId: '8a0c6f1e-1111-4a4a-9c9c-000000000001',
    ...(userMetadata === undefined ? {} : { userMetadata: typeof userMetadata === 'string' ? userMetadata : JSON.stringify(userMetadata) }),
    ...extra,
  },
});
export const protocolAction = { protocol: { minReaderVersion: 1, minWriterVersion: 2 } };
export const metaDataAction = {
  metaData: {
    id: 'b7c6f2c4-0000-4000-8000-000000000000',
    format: { provider: 'parquet', options: {} },
    schemaString: JSON.stringify({ type: 'struct', fields: [{ name: 'id', type: 'long', nullable: true, metadata: {} }] }),
    partitionColumns: [],
    configuration: {},
    createdTime: 1_790_000_000_000,
  },
};
