import { createHash, randomUUID } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchBucket,
  NoSuchKey,
  NoSuchUpload,
  NotFound,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  EMRServerlessClient,
  GetJobRunCommand,
  ResourceNotFoundException as EmrResourceNotFoundException,
} from '@aws-sdk/client-emr-serverless';
import { sdkStreamMixin } from '@smithy/core/serde';
import { mockClient } from 'aws-sdk-client-mock';
import { LocalLayout, parseS3Uri } from './layout';

/**
 * The AWS control plane the handlers talk to, served from the local tree with aws-sdk-client-mock:
 * every `S3Client` / `SecretsManagerClient` instance in this process (the handlers create their own) is routed
 * to the functions below. S3 objects are files under `<layout.s3Root>/<bucket>/<key>`; writes are atomic
 * (temporary file + rename), like a single PUT. Buckets are not versioned locally and object metadata other
 * than size, ETag (MD5) and modification time is not kept.
 */
export interface LocalSecrets {
  /** Secret ARN or name → SecretString. */
  readonly [secretIdOrArn: string]: string;
}

/** GetJobRun of the local EMR Serverless adapter: the job run (camelCase, as the SDK returns it) or undefined. */
export type LocalJobRunLookup = (applicationId: string, jobRunId: string) => Record<string, unknown> | undefined;

export interface AwsAdapters {
  /** Remove the routing (the SDK clients behave normally again). */
  restore(): void;
  /** Every call served, in order (command name + the input's Bucket/Key or SecretId). */
  readonly calls: Array<{ service: string; command: string; target: string }>;
}

const meta404 = { httpStatusCode: 404, attempts: 1, totalRetryDelay: 0 };

export function installAwsAdapters(layout: LocalLayout, secrets: LocalSecrets = {}, getJobRun?: LocalJobRunLookup): AwsAdapters {
  const calls: AwsAdapters['calls'] = [];
  const s3 = mockClient(S3Client);
  const sm = mockClient(SecretsManagerClient);
  const emr = mockClient(EMRServerlessClient);
  const uploads = new Map<string, { bucket: string; key: string; parts: Map<number, Buffer> }>();
  const record = (service: string, command: string, target: string) => calls.push({ service, command, target });

  const bucketDir = (bucket: string) => {
    const dir = layout.bucketDir(bucket);
    if (!existsSync(dir)) {
      throw new NoSuchBucket({ message: `The specified bucket does not exist: ${bucket} (local: ${dir})`, $metadata: meta404 });
    }
    return dir;
  };
  const objectFile = (bucket: string, key: string) => {
    bucketDir(bucket);
    return layout.objectPath(bucket, key);
  };
  const requireObject = (bucket: string, key: string) => {
    const file = objectFile(bucket, key);
    if (!existsSync(file) || !statSync(file).isFile()) {
      throw new NoSuchKey({ message: `The specified key does not exist: s3://${bucket}/${key}`, $metadata: meta404 });
    }
    return file;
  };

  s3.rejects(new Error('This S3 operation is not served by the local runner (see local/aws-adapters.ts)'));

  s3.on(HeadBucketCommand).callsFake(async (input) => {
    record('s3', 'HeadBucket', input.Bucket);
    bucketDir(input.Bucket);
    return { $metadata: { httpStatusCode: 200 } };
  });

  s3.on(PutObjectCommand).callsFake(async (input) => {
    record('s3', 'PutObject', `${input.Bucket}/${input.Key}`);
    const data = await bodyToBuffer(input.Body);
    writeAtomic(objectFile(input.Bucket, input.Key), data);
    return { ETag: etag(data), $metadata: { httpStatusCode: 200 } };
  });

  s3.on(GetObjectCommand).callsFake(async (input) => {
    record('s3', 'GetObject', `${input.Bucket}/${input.Key}`);
    const file = requireObject(input.Bucket, input.Key);
    const stat = statSync(file);
    const tag = etag(readFileSync(file));
    if (input.IfNoneMatch && input.IfNoneMatch === tag) {
      throw new S3ServiceException({ name: 'NotModified', $fault: 'client', message: 'Not Modified', $metadata: { httpStatusCode: 304 } });
    }
    const range = parseRange(input.Range, stat.size);
    const stream = createReadStream(file, range ? { start: range.start, end: range.end } : {});
    return {
      Body: sdkStreamMixin(stream),
      ContentLength: range ? range.end - range.start + 1 : stat.size,
      ContentRange: range ? `bytes ${range.start}-${range.end}/${stat.size}` : undefined,
      ContentType: contentType(input.Key),
      ETag: tag,
      LastModified: stat.mtime,
      $metadata: { httpStatusCode: range ? 206 : 200 },
    };
  });

  s3.on(HeadObjectCommand).callsFake(async (input) => {
    record('s3', 'HeadObject', `${input.Bucket}/${input.Key}`);
    const file = objectFile(input.Bucket, input.Key);
    if (!existsSync(file) || !statSync(file).isFile()) {
      throw new NotFound({ message: `Not Found: s3://${input.Bucket}/${input.Key}`, $metadata: meta404 });
    }
    const stat = statSync(file);
    return {
      ContentLength: stat.size,
      ContentType: contentType(input.Key),
      ETag: etag(readFileSync(file)),
      LastModified: stat.mtime,
      $metadata: { httpStatusCode: 200 },
    };
  });

  s3.on(CopyObjectCommand).callsFake(async (input) => {
    record('s3', 'CopyObject', `${input.CopySource} -> ${input.Bucket}/${input.Key}`);
    const source = decodeURIComponent(String(input.CopySource).replace(/^\//, '').split('?')[0]);
    const slash = source.indexOf('/');
    const data = readFileSync(requireObject(source.slice(0, slash), source.slice(slash + 1)));
    writeAtomic(objectFile(input.Bucket, input.Key), data);
    return { CopyObjectResult: { ETag: etag(data), LastModified: new Date() }, $metadata: { httpStatusCode: 200 } };
  });

  s3.on(DeleteObjectCommand).callsFake(async (input) => {
    record('s3', 'DeleteObject', `${input.Bucket}/${input.Key}`);
    deleteObject(objectFile(input.Bucket, input.Key), bucketDir(input.Bucket));
    return { $metadata: { httpStatusCode: 204 } };
  });

  s3.on(DeleteObjectsCommand).callsFake(async (input) => {
    const keys: string[] = (input.Delete?.Objects ?? []).map((o: { Key: string }) => o.Key);
    record('s3', 'DeleteObjects', `${input.Bucket}/{${keys.length} keys}`);
    for (const key of keys) deleteObject(objectFile(input.Bucket, key), bucketDir(input.Bucket));
    return { Deleted: keys.map((Key) => ({ Key })), Errors: [], $metadata: { httpStatusCode: 200 } };
  });

  s3.on(ListObjectsV2Command).callsFake(async (input) => {
    record('s3', 'ListObjectsV2', `${input.Bucket}/${input.Prefix ?? ''}`);
    const root = bucketDir(input.Bucket);
    const prefix: string = input.Prefix ?? '';
    const delimiter: string | undefined = input.Delimiter || undefined;
    const maxKeys: number = input.MaxKeys ?? 1000;
    const after: string = input.ContinuationToken
      ? Buffer.from(input.ContinuationToken, 'base64').toString('utf8')
      : (input.StartAfter ?? '');
    const keys = listKeys(root).filter((k) => k.startsWith(prefix) && k > after);
    const contents: Array<{ Key: string; Size: number; LastModified: Date; ETag: string; StorageClass: string }> = [];
    const commonPrefixes: string[] = [];
    let lastKey = '';
    let truncated = false;
    for (const key of keys) {
      if (contents.length + commonPrefixes.length >= maxKeys) {
        truncated = true;
        break;
      }
      if (delimiter) {
        const rest = key.slice(prefix.length);
        const at = rest.indexOf(delimiter);
        if (at >= 0) {
          const common = prefix + rest.slice(0, at + delimiter.length);
          if (commonPrefixes[commonPrefixes.length - 1] !== common) commonPrefixes.push(common);
          lastKey = key;
          continue;
        }
      }
      const file = path.join(root, ...key.split('/'));
      const stat = statSync(file);
      contents.push({ Key: key, Size: stat.size, LastModified: stat.mtime, ETag: etag(readFileSync(file)), StorageClass: 'STANDARD' });
      lastKey = key;
    }
    if (truncated && delimiter && commonPrefixes.length > 0 && lastKey.startsWith(commonPrefixes[commonPrefixes.length - 1])) {
      // continue after the whole common prefix so it is not reported twice
      lastKey = commonPrefixes[commonPrefixes.length - 1] + '\uffff';
    }
    return {
      Name: input.Bucket,
      Prefix: prefix,
      Delimiter: delimiter,
      MaxKeys: maxKeys,
      KeyCount: contents.length + commonPrefixes.length,
      Contents: contents.length ? contents : undefined,
      CommonPrefixes: commonPrefixes.length ? commonPrefixes.map((Prefix) => ({ Prefix })) : undefined,
      IsTruncated: truncated,
      NextContinuationToken: truncated ? Buffer.from(lastKey, 'utf8').toString('base64') : undefined,
      $metadata: { httpStatusCode: 200 },
    };
  });

  // Multipart uploads (what @aws-sdk/lib-storage's Upload uses for bodies above one part).
  s3.on(CreateMultipartUploadCommand).callsFake(async (input) => {
    record('s3', 'CreateMultipartUpload', `${input.Bucket}/${input.Key}`);
    objectFile(input.Bucket, input.Key);
    const uploadId = randomUUID();
    uploads.set(uploadId, { bucket: input.Bucket, key: input.Key, parts: new Map() });
    return { Bucket: input.Bucket, Key: input.Key, UploadId: uploadId, $metadata: { httpStatusCode: 200 } };
  });
  const requireUpload = (uploadId: string) => {
    const upload = uploads.get(uploadId);
    if (!upload) throw new NoSuchUpload({ message: `The specified upload does not exist: ${uploadId}`, $metadata: meta404 });
    return upload;
  };
  s3.on(UploadPartCommand).callsFake(async (input) => {
    record('s3', 'UploadPart', `${input.Bucket}/${input.Key}#${input.PartNumber}`);
    const data = await bodyToBuffer(input.Body);
    requireUpload(input.UploadId).parts.set(input.PartNumber, data);
    return { ETag: etag(data), $metadata: { httpStatusCode: 200 } };
  });
  s3.on(CompleteMultipartUploadCommand).callsFake(async (input) => {
    record('s3', 'CompleteMultipartUpload', `${input.Bucket}/${input.Key}`);
    const upload = requireUpload(input.UploadId);
    const numbers: number[] = (input.MultipartUpload?.Parts ?? []).map((p: { PartNumber: number }) => p.PartNumber);
    const order = numbers.length ? numbers : [...upload.parts.keys()].sort((a, b) => a - b);
    const data = Buffer.concat(order.map((n) => {
      const part = upload.parts.get(n);
      if (!part) throw new Error(`InvalidPart: part ${n} of upload ${input.UploadId} was not uploaded`);
      return part;
    }));
    writeAtomic(objectFile(upload.bucket, upload.key), data);
    uploads.delete(input.UploadId);
    return {
      Bucket: upload.bucket,
      Key: upload.key,
      ETag: `"${createHash('md5').update(data).digest('hex')}-${order.length}"`,
      Location: `s3://${upload.bucket}/${upload.key}`,
      $metadata: { httpStatusCode: 200 },
    };
  });
  s3.on(AbortMultipartUploadCommand).callsFake(async (input) => {
    record('s3', 'AbortMultipartUpload', `${input.Bucket}/${input.Key}`);
    uploads.delete(input.UploadId);
    return { $metadata: { httpStatusCode: 204 } };
  });

  sm.rejects(new Error('This Secrets Manager operation is not served by the local runner (see local/aws-adapters.ts)'));
  sm.on(GetSecretValueCommand).callsFake(async (input) => {
    record('secretsmanager', 'GetSecretValue', input.SecretId);
    const value = secrets[input.SecretId];
    if (value === undefined) {
      throw new ResourceNotFoundException({
        message: `Secrets Manager can't find the specified secret: ${input.SecretId} (no local secret configured)`,
        $metadata: { httpStatusCode: 400 },
      });
    }
    return { ARN: input.SecretId, Name: input.SecretId, SecretString: value, VersionId: 'local', $metadata: { httpStatusCode: 200 } };
  });

  // EMR Serverless control plane: GetJobRun of the job runs the local adapter ran (e.g. for cost records).
  emr.rejects(new Error('This EMR Serverless operation is not served by the local runner (see local/aws-adapters.ts)'));
  emr.on(GetJobRunCommand).callsFake(async (input) => {
    record('emr-serverless', 'GetJobRun', `${input.applicationId}/${input.jobRunId}`);
    const jobRun = getJobRun?.(input.applicationId, input.jobRunId);
    if (!jobRun) {
      throw new EmrResourceNotFoundException({ message: `Job run ${input.jobRunId} of application ${input.applicationId} does not exist`, $metadata: meta404 });
    }
    return { jobRun, $metadata: { httpStatusCode: 200 } };
  });

  return {
    calls,
    restore() {
      s3.restore();
      sm.restore();
      emr.restore();
    },
  };
}

/** All keys of a bucket directory, sorted like S3 (UTF-8 binary order), skipping in-flight temporary files. */
export function listKeys(bucketRoot: string): string[] {
  const keys: string[] = [];
  const walk = (dir: string, prefix: string) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.tmp-')) continue;
      if (entry.isDirectory()) walk(path.join(dir, entry.name), `${prefix}${entry.name}/`);
      else if (entry.isFile()) keys.push(prefix + entry.name);
    }
  };
  walk(bucketRoot, '');
  return keys.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** Reads an object of the local tree (helper for the runner itself). */
export function readLocalObject(layout: LocalLayout, uri: string): Buffer {
  const { bucket, key } = parseS3Uri(uri);
  return readFileSync(layout.objectPath(bucket, key));
}

/** Writes an object of the local tree atomically (helper for the runner itself). */
export function writeLocalObject(layout: LocalLayout, uri: string, data: string | Buffer): void {
  const { bucket, key } = parseS3Uri(uri);
  writeAtomic(layout.objectPath(bucket, key), Buffer.isBuffer(data) ? data : Buffer.from(data));
}

export function writeAtomic(file: string, data: Buffer): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = path.join(path.dirname(file), `.tmp-${path.basename(file)}-${process.pid}-${randomUUID().slice(0, 8)}`);
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

function deleteObject(file: string, bucketRoot: string): void {
  if (existsSync(file) && statSync(file).isFile()) rmSync(file);
  // S3 has no directories: drop the now-empty parents (never the bucket itself)
  let dir = path.dirname(file);
  while (dir.startsWith(bucketRoot + path.sep) && existsSync(dir) && readdirSync(dir).length === 0) {
    rmSync(dir, { recursive: false, force: true } as never);
    dir = path.dirname(dir);
  }
}

function etag(data: Buffer): string {
  return `"${createHash('md5').update(data).digest('hex')}"`;
}

function contentType(key: string): string {
  if (key.endsWith('.json')) return 'application/json';
  if (key.endsWith('.csv')) return 'text/csv';
  if (key.endsWith('.txt')) return 'text/plain';
  if (key.endsWith('.gz')) return 'application/gzip';
  return 'application/octet-stream';
}

function parseRange(range: string | undefined, size: number): { start: number; end: number } | undefined {
  if (!range) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(range);
  if (!match) return undefined;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  return { start, end };
}

async function bodyToBuffer(body: unknown): Promise<Buffer> {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body);
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  if (typeof Blob !== 'undefined' && body instanceof Blob) return Buffer.from(await body.arrayBuffer());
  if (body instanceof Readable || typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
    const chunks: Buffer[] = [];
    for await (const chunk of body as AsyncIterable<string | Uint8Array>) {
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
    }
    return Buffer.concat(chunks);
  }
  if (typeof (body as ReadableStream).getReader === 'function') {
    return Buffer.from(await new Response(body as ReadableStream).arrayBuffer());
  }
  throw new Error(`Unsupported S3 Body type: ${Object.prototype.toString.call(body)}`);
}
