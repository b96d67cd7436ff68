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
  type S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/core/serde';
import type { AwsClientStub } from 'aws-sdk-client-mock';
import { accessDeniedMessage, type Authorizer } from '../../local/iam';
import { parseCopySource } from '../../local/iam/operations';

/**
 * aws-sdk-client-mock answers for the S3 commands a handler sends, as Amazon S3 answers them to one principal:
 * every call is decided by the project's {@link Authorizer} (the policies of the synthesized template, through
 * iam-simulate); denied → 403 (`AccessDenied`, HEAD: `Forbidden`, no body); a missing key → 404 (`NoSuchKey`,
 * HEAD: `NotFound`) only when the principal may `s3:ListBucket` it (`mayListBucket`), otherwise 403 (S3 API
 * reference, GetObject/HeadObject "Permissions"). Objects live in a Map.
 */
export class AuthorizedS3 {
  private readonly objects = new Map<string, { body: Buffer; metadata?: Record<string, string> }>();
  private readonly buckets = new Set<string>();

  constructor(
    private authz: Authorizer,
    private principalArn: string,
  ) {}

  /** Answer as another authorizer (e.g. of a changed template) decides, for `principalArn` (default: the same). */
  public actAs(authz: Authorizer, principalArn = this.principalArn): this {
    this.authz = authz;
    this.principalArn = principalArn;
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

  public keys(bucket: string): string[] {
    return [...this.objects.keys()].filter((k) => k.startsWith(`${bucket}/`)).map((k) => k.slice(bucket.length + 1)).sort();
  }

  /** Route the S3 commands the handlers use through this store. */
  public install(mock: AwsClientStub<S3Client>): this {
    mock.on(HeadObjectCommand).callsFake(async (input: { Bucket: string; Key: string }) => {
      const object = await this.read('HeadObject', input);
      return { ContentLength: object.body.length, Metadata: object.metadata ?? {} };
    });
    mock.on(GetObjectCommand).callsFake(async (input: { Bucket: string; Key: string }) => {
      const object = await this.read('GetObject', input);
      return { Body: sdkStreamMixin(Readable.from([object.body])), ContentLength: object.body.length, Metadata: object.metadata ?? {} };
    });
    mock.on(PutObjectCommand).callsFake(async (input: { Bucket: string; Key: string; Body?: string | Uint8Array; Metadata?: Record<string, string> }) => {
      this.requireBucket(input.Bucket);
      await this.authorize('PutObject', input);
      this.objects.set(`${input.Bucket}/${input.Key}`, { body: Buffer.from(input.Body ?? ''), metadata: input.Metadata });
      return {};
    });
    mock.on(CopyObjectCommand).callsFake(async (input: { Bucket: string; Key: string; CopySource: string; Metadata?: Record<string, string>; ChecksumAlgorithm?: string }) => {
      const { Bucket, Key } = parseCopySource(input.CopySource);
      this.requireBucket(Bucket);
      this.requireBucket(input.Bucket);
      await this.authorize('CopyObject', input);
      const source = this.objects.get(`${Bucket}/${Key}`);
      if (!source) throw await this.missing('CopyObject', Bucket, Key);
      this.objects.set(`${input.Bucket}/${input.Key}`, { body: source.body, metadata: input.Metadata });
      const sha256 = createHash('sha256').update(source.body).digest('base64');
      return { CopyObjectResult: input.ChecksumAlgorithm === 'SHA256' ? { ChecksumSHA256: sha256 } : {} };
    });
    mock.on(DeleteObjectsCommand).callsFake(async (input: { Bucket: string; Delete: { Objects: Array<{ Key: string }> } }) => {
      this.requireBucket(input.Bucket);
      // S3 authorizes each key and reports the denied ones in the response
      const errors: Array<{ Key: string; Code: string; Message: string }> = [];
      for (const { Key } of input.Delete.Objects) {
        const result = await this.authz.authorize({ principalArn: this.principalArn, operation: 'S3.DeleteObject', params: { Bucket: input.Bucket, Key } });
        if (result.allowed) this.objects.delete(`${input.Bucket}/${Key}`);
        else errors.push({ Key, Code: 'AccessDenied', Message: 'Access Denied' });
      }
      return errors.length ? { Errors: errors } : {};
    });
    return this;
  }

  private async read(operation: 'HeadObject' | 'GetObject', input: { Bucket: string; Key: string }): Promise<{ body: Buffer; metadata?: Record<string, string> }> {
    this.requireBucket(input.Bucket);
    await this.authorize(operation, input);
    const object = this.objects.get(`${input.Bucket}/${input.Key}`);
    if (object) return object;
    throw await this.missing(operation, input.Bucket, input.Key);
  }

  private async authorize(operation: string, params: object): Promise<void> {
    const result = await this.authz.authorize({ principalArn: this.principalArn, operation: `S3.${operation}`, params: params as Record<string, unknown> });
    if (result.allowed) return;
    const { action, resource, reason } = result.denied!;
    throw denied(operation, accessDeniedMessage(result.callerArn, action, resource, reason));
  }

  /** A missing key: 404 only to a caller allowed s3:ListBucket for it, else 403. */
  private async missing(operation: string, bucket: string, key: string): Promise<S3ServiceException> {
    if (!(await this.authz.mayListBucket(this.principalArn, bucket, key))) return denied(operation);
    return operation === 'HeadObject'
      ? new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } })
      : new NoSuchKey({ message: 'The specified key does not exist.', $metadata: { httpStatusCode: 404 } });
  }

  private requireBucket(bucket: string): void {
    if (!this.buckets.has(bucket)) {
      throw new S3ServiceException({ name: 'NoSuchBucket', $fault: 'client', $metadata: { httpStatusCode: 404 }, message: 'The specified bucket does not exist' });
    }
  }
}

/**
 * HEAD responses have no body, so the SDK names a 403 after the status (`Forbidden`, no message); others say
 * `AccessDenied` with S3's message (which names the denied action, except for a key hidden by a missing ListBucket).
 */
function denied(operation: string, message = 'Access Denied'): S3ServiceException {
  const head = operation === 'HeadObject';
  return new S3ServiceException({ name: head ? 'Forbidden' : 'AccessDenied', $fault: 'client', $metadata: { httpStatusCode: 403 }, message: head ? 'Forbidden' : message });
}
