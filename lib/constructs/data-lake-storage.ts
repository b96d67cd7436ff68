import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { NAMESPACE_ROOT } from '../pipelines/common';

/** Tier prefixes of the data-lake bucket (CONTRACTS.md "S3 layout"). */
export const LAKE_PREFIXES = ['bronze/', 'silver/', 'gold/', 'runs/', 'tmp/'] as const;

export interface DataLakeStorageProps {
  /**
   * Destroy the buckets and their objects when the stack is deleted (dev only; the stage config enforces it).
   * @default false - buckets are retained
   */
  readonly destroyOnDelete?: boolean;
  /**
   * Days after which EMR job logs, server access logs, `tmp/` objects and smoke-run namespaces (`smoke/`) expire.
   * @default 30
   */
  readonly logRetentionDays?: number;
  /**
   * Days after which non-current model versions expire in the versioned models bucket.
   * @default 365
   */
  readonly noncurrentModelRetentionDays?: number;
}

/**
 * The platform's S3 storage: one data-lake bucket with tier prefixes (`bronze/ silver/ gold/ runs/ tmp/`), a
 * versioned models bucket, a content-addressed artifacts bucket and a logs bucket (EMR job logs under `emr/`,
 * server access logs of the other buckets under `access/<bucket>/`).
 *
 * Every bucket: SSE-S3 encryption, TLS enforced by bucket policy, all public access blocked, ACLs disabled,
 * incomplete multipart uploads aborted after 1 day.
 */
export class DataLakeStorage extends Construct {
  /** Data lake: `bronze/`, `silver/`, `gold/`, `runs/` (job results), `tmp/` (expires). */
  public readonly lakeBucket: s3.Bucket;
  /** Models (versioned): `recommender/versions/<v>/`, `recommender/current.json`, `topic/...`. */
  public readonly modelsBucket: s3.Bucket;
  /** Job code and dependency archives: `artifacts/<sha256>/<file>`, `manifests/<sha256>.json`, `manifests/current.json`. */
  public readonly artifactsBucket: s3.Bucket;
  /** `emr/` EMR Serverless job logs, `access/<bucket>/` S3 server access logs. */
  public readonly logsBucket: s3.Bucket;
  /** Key prefix of EMR Serverless job logs in the logs bucket. */
  public readonly emrLogPrefix = 'emr/';

  constructor(scope: Construct, id: string, props: DataLakeStorageProps = {}) {
    super(scope, id);
    const destroy = props.destroyOnDelete ?? false;
    const logDays = props.logRetentionDays ?? 30;
    const abortMultipart: s3.LifecycleRule = {
      id: 'abort-incomplete-multipart-uploads',
      abortIncompleteMultipartUploadAfter: Duration.days(1),
    };
    const common: s3.BucketProps = {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: destroy ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
      autoDeleteObjects: destroy,
    };

    this.logsBucket = new s3.Bucket(this, 'Logs', {
      ...common,
      // Server access logging delivery needs the bucket-owner-preferred setting on the target bucket.
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
      lifecycleRules: [
        abortMultipart,
        { id: 'expire-emr-logs', prefix: this.emrLogPrefix, expiration: Duration.days(logDays) },
        { id: 'expire-access-logs', prefix: 'access/', expiration: Duration.days(logDays) },
        { id: 'expire-vpc-flow-logs', prefix: 'vpc-flow-logs/', expiration: Duration.days(logDays) },
      ],
    });
    Validations.of(this.logsBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'The logs bucket is the server-access-log destination of the other buckets; logging it into itself would loop.',
    });

    const accessLogs = (name: string): Partial<s3.BucketProps> => ({
      serverAccessLogsBucket: this.logsBucket,
      serverAccessLogsPrefix: `access/${name}/`,
    });

    this.lakeBucket = new s3.Bucket(this, 'Lake', {
      ...common,
      ...accessLogs('lake'),
      lifecycleRules: [
        abortMultipart,
        { id: 'expire-tmp', prefix: 'tmp/', expiration: Duration.days(logDays) },
        { id: 'expire-smoke', prefix: NAMESPACE_ROOT, expiration: Duration.days(logDays) },
      ],
    });

    this.modelsBucket = new s3.Bucket(this, 'Models', {
      ...common,
      ...accessLogs('models'),
      versioned: true,
      lifecycleRules: [
        abortMultipart,
        {
          id: 'expire-noncurrent-model-versions',
          noncurrentVersionExpiration: Duration.days(props.noncurrentModelRetentionDays ?? 365),
        },
        // smoke runs' models and pointers (namespaces, lib/pipelines/common.ts) are disposable
        { id: 'expire-smoke', prefix: NAMESPACE_ROOT, expiration: Duration.days(logDays), noncurrentVersionExpiration: Duration.days(1) },
      ],
    });

    this.artifactsBucket = new s3.Bucket(this, 'Artifacts', {
      ...common,
      ...accessLogs('artifacts'),
      lifecycleRules: [abortMultipart],
    });

    if (destroy) {
      // The auto-delete-objects provider is aws-cdk-lib's own singleton Lambda.
      const provider = Stack.of(this).node.tryFindChild('Custom::S3AutoDeleteObjectsCustomResourceProvider');
      if (provider) {
        Validations.of(provider).acknowledge({
          id: 'AwsSolutions-L1',
          reason: 'aws-cdk-lib pins the runtime of its S3 auto-delete-objects provider (dev stage only).',
        });
      }
    }
  }

  /** All four buckets. */
  public get buckets(): s3.Bucket[] {
    return [this.lakeBucket, this.modelsBucket, this.artifactsBucket, this.logsBucket];
  }
}
