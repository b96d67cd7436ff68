import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { JobRunEnvironment, JobRunEnvironmentSchema } from '../../lib/jobs/job-request-builder';
import { formatIssues } from '../../lib/jobs/catalog';
import { CURRENT_MANIFEST_KEY, isImmutableManifestKey, Manifest, parseManifest } from '../../lib/jobs/manifest';

/** Lambda environment (CONTRACTS.md "Job-request Lambda") → the builder's stage environment + manifest location. */
export function readJobRunEnvironment(env: NodeJS.ProcessEnv = process.env): { env: JobRunEnvironment; manifestKey: string } {
  const names: Record<string, string> = {
    stage: 'STAGE',
    applicationId: 'APPLICATION_ID',
    jobRoleArn: 'JOB_ROLE_ARN',
    artifactsBucket: 'ARTIFACTS_BUCKET',
    logsBucket: 'LOGS_BUCKET',
    lakeBucket: 'LAKE_BUCKET',
    modelsBucket: 'MODELS_BUCKET',
    jobTimeoutMinutes: 'JOB_TIMEOUT_MINUTES',
    dbSecretArn: 'DB_SECRET_ARN',
  };
  const raw = {
    stage: env.STAGE,
    applicationId: env.APPLICATION_ID,
    jobRoleArn: env.JOB_ROLE_ARN,
    artifactsBucket: env.ARTIFACTS_BUCKET,
    logsBucket: env.LOGS_BUCKET,
    lakeBucket: env.LAKE_BUCKET,
    modelsBucket: env.MODELS_BUCKET,
    jobTimeoutMinutes: env.JOB_TIMEOUT_MINUTES ? Number(env.JOB_TIMEOUT_MINUTES) : undefined,
    dbSecretArn: env.DB_SECRET_ARN || undefined,
  };
  const parsed = JobRunEnvironmentSchema.safeParse(raw);
  if (!parsed.success) {
    const message = formatIssues('', parsed.error).replace(/(^|; )\.(\w+)/g, (_m, sep: string, key: string) => `${sep}${names[key] ?? key}`);
    throw new Error(`Invalid Lambda environment: ${message}`);
  }
  return { env: parsed.data, manifestKey: env.MANIFEST_KEY || CURRENT_MANIFEST_KEY };
}

interface CachedManifest {
  readonly manifest: Manifest;
  readonly etag?: string;
}

/**
 * Reads the artifact manifest from the artifacts bucket, cached per container: a content-addressed key
 * (`manifests/<sha256>.json`) never changes and is read once; a mutable key (`manifests/current.json`) is
 * revalidated with a conditional GET (`If-None-Match`), so a deploy that publishes new artifacts is seen at once.
 */
export class ManifestCache {
  private readonly cache = new Map<string, CachedManifest>();

  constructor(private readonly s3: S3Client) {}

  async get(bucket: string, key: string): Promise<Manifest> {
    const cacheKey = `${bucket}/${key}`;
    const cached = this.cache.get(cacheKey);
    if (cached && isImmutableManifestKey(key)) return cached.manifest;
    try {
      const response = await this.s3.send(
        new GetObjectCommand({ Bucket: bucket, Key: key, ...(cached?.etag ? { IfNoneMatch: cached.etag } : {}) }),
      );
      const body = await response.Body?.transformToString('utf-8');
      if (body === undefined) throw new Error(`s3://${bucket}/${key} has no body`);
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch (error) {
        throw new Error(`s3://${bucket}/${key} is not JSON: ${(error as Error).message}`);
      }
      const manifest = parseManifest(json, `s3://${bucket}/${key}`);
      this.cache.set(cacheKey, { manifest, etag: response.ETag });
      return manifest;
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (cached && (status === 304 || (error as Error).name === 'NotModified')) return cached.manifest;
      if ((error as Error).name === 'NoSuchKey') {
        throw new Error(`Artifact manifest s3://${bucket}/${key} does not exist: deploy the artifacts (npm run package, then cdk deploy)`);
      }
      throw error;
    }
  }
}
