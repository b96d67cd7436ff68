import { createHash } from 'node:crypto';
import {
  CopyObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Logger } from '@aws-lambda-powertools/logger';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { cfnResponder } from '../shared/cfn-response';
import { CURRENT_MANIFEST_KEY, Manifest, manifestKey, parseManifest } from '../../lib/jobs/manifest';

/**
 * Deploy-time custom resource (invoked by CloudFormation; see lib/constructs/job-artifacts.ts): publishes the artifacts that `cdk deploy`
 * uploaded as assets to their content-addressed keys `artifacts/<sha256>/<file>` in the artifacts bucket, then
 * writes `manifests/<sha256>.json` and `manifests/current.json`, so every job run pins exact artifact versions.
 *
 * - Create/Update: copy what is missing (verifying each object's SHA-256), write the manifest, then the pointer.
 *   Never deletes: a job started from the previous manifest keeps reading its artifacts. The physical id is
 *   stable per bucket, so CloudFormation never sends a replacement Delete after an update.
 * - Delete: `RemovalPolicy: retain` keeps everything; `destroy` deletes this manifest's objects only when
 *   `manifests/current.json` is still this manifest (a newer deployment's artifacts are never touched). A pointer
 *   that does not exist (first deploy rolled back: nothing was published) means there is nothing to delete.
 *
 * Missing keys: S3 answers HeadObject/GetObject of a key that does not exist with 404 only when the caller may
 * `s3:ListBucket` the bucket for that key (the role is granted it on `artifacts/` and `manifests/`); otherwise with
 * 403 AccessDenied. Only 404 means "not there": a 403 fails the operation with a message naming the key, because
 * reading it as "missing" would hide a real denial (and, on Delete, skip the clean-up silently).
 */

export interface ArtifactSource {
  /** File name in the manifest. */
  File: string;
  /** Where `cdk deploy` uploaded it (asset bucket / key). */
  SourceBucket: string;
  SourceKey: string;
}

export interface PackageDependenciesProperties {
  ServiceToken?: string;
  ArtifactsBucket: string;
  /** The manifest JSON exactly as written by `npm run package` (its SHA-256 names manifests/<sha>.json). */
  Manifest?: string;
  ManifestSha256?: string;
  Sources?: ArtifactSource[];
  RemovalPolicy: 'retain' | 'destroy';
  /** Set at synth when `npm run package` has not been run: the deployment fails with this message. */
  MissingArtifacts?: string;
}

export interface OnEventResponse {
  PhysicalResourceId: string;
  Data?: Record<string, string>;
}

const MAX_COPY_BYTES = 5 * 1024 ** 3; // single CopyObject limit
const COPY_CONCURRENCY = 4;
const logger = new Logger({ serviceName: 'package-dependencies' });

export function createHandler(s3: S3Client = new S3Client({})) {
  return async (event: CloudFormationCustomResourceEvent): Promise<OnEventResponse> => {
    const props = event.ResourceProperties as unknown as PackageDependenciesProperties;
    const physicalId = `${props.ArtifactsBucket}/manifests`;
    logger.info('event', { requestType: event.RequestType, bucket: props.ArtifactsBucket, manifestSha256: props.ManifestSha256 });
    if (event.RequestType === 'Delete') {
      await onDelete(s3, props);
      return { PhysicalResourceId: event.PhysicalResourceId };
    }
    if (props.MissingArtifacts) throw new Error(props.MissingArtifacts);
    const { manifest, sha256 } = readManifest(props);
    await publish(s3, props, manifest, sha256);
    return {
      PhysicalResourceId: physicalId,
      Data: { ManifestKey: manifestKey(sha256), ManifestSha256: sha256, CurrentManifestKey: CURRENT_MANIFEST_KEY },
    };
  };
}

/** CloudFormation invokes this function directly (no Provider framework): the responder answers the stack. */
export const handler = cfnResponder(createHandler());

function readManifest(props: PackageDependenciesProperties): { manifest: Manifest; sha256: string } {
  if (!props.Manifest || !props.ManifestSha256) throw new Error('ResourceProperties: Manifest and ManifestSha256 are required');
  const sha256 = createHash('sha256').update(props.Manifest, 'utf-8').digest('hex');
  if (sha256 !== props.ManifestSha256) {
    throw new Error(`ResourceProperties.Manifest: SHA-256 ${sha256} does not match ManifestSha256 ${props.ManifestSha256}`);
  }
  return { manifest: parseManifest(JSON.parse(props.Manifest), 'ResourceProperties.Manifest'), sha256 };
}

async function publish(s3: S3Client, props: PackageDependenciesProperties, manifest: Manifest, sha256: string): Promise<void> {
  const sources = new Map((props.Sources ?? []).map((s) => [s.File, s]));
  const missing = manifest.artifacts.filter((a) => !sources.has(a.file)).map((a) => a.file);
  if (missing.length) throw new Error(`ResourceProperties.Sources: no uploaded source for ${missing.join(', ')}`);

  const queue = [...manifest.artifacts];
  const worker = async () => {
    for (let artifact = queue.shift(); artifact; artifact = queue.shift()) {
      const source = sources.get(artifact.file)!;
      if (await alreadyPublished(s3, props.ArtifactsBucket, artifact.key, artifact.sha256)) {
        logger.info('artifact already published', { key: artifact.key });
        continue;
      }
      if (artifact.size > MAX_COPY_BYTES) throw new Error(`${artifact.file}: ${artifact.size} bytes exceeds the 5 GiB single-copy limit`);
      const copied = await s3.send(
        new CopyObjectCommand({
          Bucket: props.ArtifactsBucket,
          Key: artifact.key,
          CopySource: `${source.SourceBucket}/${source.SourceKey.split('/').map(encodeURIComponent).join('/')}`,
          MetadataDirective: 'REPLACE',
          Metadata: { sha256: artifact.sha256 },
          ChecksumAlgorithm: 'SHA256',
        }),
      );
      const checksum = copied.CopyObjectResult?.ChecksumSHA256;
      if (checksum && Buffer.from(checksum, 'base64').toString('hex') !== artifact.sha256) {
        await s3.send(new DeleteObjectsCommand({ Bucket: props.ArtifactsBucket, Delete: { Objects: [{ Key: artifact.key }] } }));
        throw new Error(`${artifact.file}: uploaded content has SHA-256 ${Buffer.from(checksum, 'base64').toString('hex')}, manifest says ${artifact.sha256} (re-run npm run package and deploy again)`);
      }
      logger.info('artifact published', { key: artifact.key, size: artifact.size });
    }
  };
  await Promise.all(Array.from({ length: Math.min(COPY_CONCURRENCY, queue.length) }, worker));

  const body = props.Manifest!;
  await s3.send(new PutObjectCommand({ Bucket: props.ArtifactsBucket, Key: manifestKey(sha256), Body: body, ContentType: 'application/json' }));
  // The pointer goes last: a job never sees a manifest whose artifacts are not all in place.
  await s3.send(
    new PutObjectCommand({ Bucket: props.ArtifactsBucket, Key: CURRENT_MANIFEST_KEY, Body: body, ContentType: 'application/json', CacheControl: 'no-cache' }),
  );
}

async function alreadyPublished(s3: S3Client, bucket: string, key: string, sha256: string): Promise<boolean> {
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return head.Metadata?.sha256 === sha256;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw s3Failure('HeadObject', bucket, key, error);
  }
}

async function onDelete(s3: S3Client, props: PackageDependenciesProperties): Promise<void> {
  if (props.RemovalPolicy !== 'destroy' || props.MissingArtifacts || !props.Manifest || !props.ManifestSha256) {
    logger.info('delete: retaining artifacts', { removalPolicy: props.RemovalPolicy });
    return;
  }
  let current: string | undefined;
  try {
    const response = await s3.send(new GetObjectCommand({ Bucket: props.ArtifactsBucket, Key: CURRENT_MANIFEST_KEY }));
    current = await response.Body?.transformToString('utf-8');
  } catch (error) {
    if (isNotFound(error) || (error as Error).name === 'NoSuchBucket') {
      logger.info('delete: no manifests/current.json (nothing was published); nothing deleted');
      return;
    }
    throw s3Failure('GetObject', props.ArtifactsBucket, CURRENT_MANIFEST_KEY, error);
  }
  const currentSha = current === undefined ? undefined : createHash('sha256').update(current, 'utf-8').digest('hex');
  if (currentSha !== props.ManifestSha256) {
    logger.info('delete: manifests/current.json belongs to another deployment; nothing deleted', { currentSha });
    return;
  }
  const manifest = parseManifest(JSON.parse(props.Manifest), 'ResourceProperties.Manifest');
  const keys = [...manifest.artifacts.map((a) => a.key), manifestKey(props.ManifestSha256), CURRENT_MANIFEST_KEY];
  for (let i = 0; i < keys.length; i += 1000) {
    const result = await s3.send(
      new DeleteObjectsCommand({ Bucket: props.ArtifactsBucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })), Quiet: true } }),
    );
    if (result.Errors?.length) throw new Error(`delete: ${result.Errors.map((e) => `${e.Key}: ${e.Code}`).join(', ')}`);
  }
  logger.info('delete: removed artifacts', { count: keys.length });
}

type S3Error = { name?: string; $metadata?: { httpStatusCode?: number } };

/** HeadObject: `NotFound` (no body); GetObject: `NoSuchKey` — both HTTP 404. */
function isNotFound(error: unknown): boolean {
  const e = error as S3Error;
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}

/** HeadObject: `Forbidden` (no body); other operations: `AccessDenied` — both HTTP 403. */
function isAccessDenied(error: unknown): boolean {
  const e = error as S3Error;
  return e.name === 'AccessDenied' || e.name === 'Forbidden' || e.$metadata?.httpStatusCode === 403;
}

/** A 403 becomes an error naming the key and the permissions involved; anything else is passed on unchanged. */
function s3Failure(operation: string, bucket: string, key: string, error: unknown): unknown {
  if (!isAccessDenied(error)) return error;
  return new Error(
    `${operation} s3://${bucket}/${key}: AccessDenied (HTTP 403). The custom resource's role needs s3:GetObject on ` +
      'the key and s3:ListBucket on the bucket for its prefix (without ListBucket S3 answers 403, not 404, for a key ' +
      'that does not exist yet); a 403 is never taken to mean the key is missing.',
    { cause: error },
  );
}
