import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/core/serde';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import type { S3Client } from '@aws-sdk/client-s3';
import { allows, type PolicyStatement } from './iam-policy';

/**
 * An in-memory S3 that authorizes every call against a role's IAM statements and answers as Amazon S3 does
 * (S3 API reference, GetObject/HeadObject "Permissions"): no `s3:GetObject` → 403; a missing key → 404
 * (`NoSuchKey`, HEAD: `NotFound`) only when the caller may `s3:ListBucket` the bucket with `s3:prefix` = the key,
 * otherwise 403 (`AccessDenied`, HEAD: `Forbidden`, no body). Mock answers that skip this rule are how a handler
 * passes its unit tests and fails on its first deployment.
 */
export class S3AsAws {
  private readonly objects = new Map<string, { body: Buffer; metadata?: Record<string, string> }>();
  private readonly buckets = new Set<string>();

  constructor(private statements: readonly PolicyStatement[]) {}

  /** Replace the caller's permissions (e.g. a role without one statement). */
  public actAs(statements: readonly PolicyStatement[]): this {
    this.statements = statements;
    return this;
  }

  public bucket(name: string): this {
    this.buckets.add(name);
    return this;
  }

  public put(bucket: string, key: string, body: string | Buffer, metadata?: Record<string, string>): this {
    this.buckets.add(bucket);
    this.objects.set(`${bucket}/${key}`, { body: Buffer.from(body), metadata });
    return this;
  }

  public get(bucket: string, key: string): Buffer | undefined {
    return this.objects.get(`${bucket}/${key}`)?.body;
  }

  public keys(bucket: string): string[] {
    return [...this.objects.keys()].filter((k) => k.startsWith(`${bucket}/`)).map((k) => k.slice(bucket.length + 1)).sort();
  }

  /** Route the S3 commands the handlers use through this store. */
  public install(mock: AwsClientStub<S3Client>): this {
    mock.on(HeadObjectCommand).callsFake((input: { Bucket: string; Key: string }) => {
      const object = this.read(input.Bucket, input.Key, true);
      return { ContentLength: object.body.length, Metadata: object.metadata ?? {} };
    });
    mock.on(GetObjectCommand).callsFake((input: { Bucket: string; Key: string }) => {
      const object = this.read(input.Bucket, input.Key, false);
      return { Body: sdkStreamMixin(Readable.from([object.body])), ContentLength: object.body.length, Metadata: object.metadata ?? {} };
    });
    mock.on(PutObjectCommand).callsFake((input: { Bucket: string; Key: string; Body?: string | Uint8Array; Metadata?: Record<string, string> }) => {
      this.requireBucket(input.Bucket);
      this.authorize('s3:PutObject', input.Bucket, input.Key, false);
      this.objects.set(`${input.Bucket}/${input.Key}`, { body: Buffer.from(input.Body ?? ''), metadata: input.Metadata });
      return {};
    });
    mock.on(CopyObjectCommand).callsFake((input: { Bucket: string; Key: string; CopySource: string; Metadata?: Record<string, string>; ChecksumAlgorithm?: string }) => {
      const slash = input.CopySource.indexOf('/');
      const [sourceBucket, sourceKey] = [input.CopySource.slice(0, slash), decodeURIComponent(input.CopySource.slice(slash + 1))];
      const source = this.read(sourceBucket, sourceKey, false);
      this.requireBucket(input.Bucket);
      this.authorize('s3:PutObject', input.Bucket, input.Key, false);
      this.objects.set(`${input.Bucket}/${input.Key}`, { body: source.body, metadata: input.Metadata });
      const sha256 = createHash('sha256').update(source.body).digest('base64');
      return { CopyObjectResult: input.ChecksumAlgorithm === 'SHA256' ? { ChecksumSHA256: sha256 } : {} };
    });
    mock.on(DeleteObjectsCommand).callsFake((input: { Bucket: string; Delete: { Objects: Array<{ Key: string }> } }) => {
      this.requireBucket(input.Bucket);
      const errors: Array<{ Key: string; Code: string }> = [];
      for (const { Key } of input.Delete.Objects) {
        if (allows(this.statements, 's3:DeleteObject', objectArn(input.Bucket, Key))) this.objects.delete(`${input.Bucket}/${Key}`);
        else errors.push({ Key, Code: 'AccessDenied' });
      }
      return errors.length ? { Errors: errors } : {};
    });
    return this;
  }

  private read(bucket: string, key: string, head: boolean): { body: Buffer; metadata?: Record<string, string> } {
    this.requireBucket(bucket);
    this.authorize('s3:GetObject', bucket, key, head);
    const object = this.objects.get(`${bucket}/${key}`);
    if (object) return object;
    if (allows(this.statements, 's3:ListBucket', `arn:aws:s3:::${bucket}`, { 's3:prefix': key })) {
      throw head
        ? new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } })
        : new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } });
    }
    throw denied(head);
  }

  private authorize(action: string, bucket: string, key: string, head: boolean): void {
    if (!allows(this.statements, action, objectArn(bucket, key))) throw denied(head);
  }

  private requireBucket(bucket: string): void {
    if (!this.buckets.has(bucket)) {
      throw new S3ServiceException({ name: 'NoSuchBucket', $fault: 'client', $metadata: { httpStatusCode: 404 }, message: 'The specified bucket does not exist' });
    }
  }
}

const objectArn = (bucket: string, key: string) => `arn:aws:s3:::${bucket}/${key}`;

/** HEAD responses have no body, so the SDK names a 403 after the status (`Forbidden`); others say `AccessDenied`. */
function denied(head: boolean): S3ServiceException {
  return new S3ServiceException({ name: head ? 'Forbidden' : 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: head ? 'Forbidden' : 'Access Denied' });
}
