import { Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { acknowledgeIamWildcards } from './nag-acknowledgements';
import { databaseSecretStatements } from './pipeline-database';

export const EMR_SERVERLESS_PRINCIPAL = 'emr-serverless.amazonaws.com';

/** Key prefixes one bucket grants: read-only and read-write (object keys; `*` is appended). */
export interface BucketAccess {
  readonly bucket: s3.IBucket;
  /** @default [] */
  readonly read?: string[];
  /** @default [] */
  readonly readWrite?: string[];
  /** Write-only (no read), e.g. log delivery. @default [] */
  readonly writeOnly?: string[];
}

export interface JobExecutionRoleProps {
  /** Exactly the buckets and key prefixes the jobs read and write. */
  readonly access: BucketAccess[];
  /**
   * Database credentials the news job reads (Secrets Manager; with `kms:Decrypt` through Secrets Manager when a
   * customer-managed key encrypts them). @default - no secret access
   */
  readonly databaseSecret?: secretsmanager.ISecret;
  /**
   * ARN of the EMR Serverless application allowed to assume the role (`aws:SourceArn`).
   * @default - only `aws:SourceAccount` is checked
   */
  readonly applicationArn?: string;
  /** @default - generated */
  readonly roleName?: string;
}

const READ_ACTIONS = ['s3:GetObject'];
const WRITE_ACTIONS = ['s3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'];

/**
 * The IAM role EMR Serverless job runs assume. Trusted only by `emr-serverless.amazonaws.com` from this account
 * (`aws:SourceAccount`, and `aws:SourceArn` = the application when given); allowed exactly the listed bucket
 * prefixes (objects, and `ListBucket` restricted by `s3:prefix`) and the database secret — nothing else.
 */
export class JobExecutionRole extends Construct {
  public readonly role: iam.Role;
  public readonly roleArn: string;

  constructor(scope: Construct, id: string, props: JobExecutionRoleProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const conditions: Record<string, Record<string, string>> = {
      StringEquals: { 'aws:SourceAccount': stack.account },
    };
    if (props.applicationArn) conditions.ArnLike = { 'aws:SourceArn': props.applicationArn };

    this.role = new iam.Role(this, 'Role', {
      roleName: props.roleName,
      description: 'EMR Serverless job runs of the ML pipelines (scoped to the pipeline bucket prefixes).',
      assumedBy: new iam.ServicePrincipal(EMR_SERVERLESS_PRINCIPAL, { conditions }),
    });
    this.roleArn = this.role.roleArn;

    const statements: iam.PolicyStatement[] = [];
    props.access.forEach((access, i) => {
      const read = access.read ?? [];
      const readWrite = access.readWrite ?? [];
      const writeOnly = access.writeOnly ?? [];
      const objects = (prefixes: string[]) => prefixes.map((p) => access.bucket.arnForObjects(`${p}*`));
      if (read.length + readWrite.length > 0) {
        statements.push(
          new iam.PolicyStatement({ sid: `Read${i}`, actions: READ_ACTIONS, resources: objects([...read, ...readWrite]) }),
        );
      }
      if (readWrite.length + writeOnly.length > 0) {
        statements.push(
          new iam.PolicyStatement({ sid: `Write${i}`, actions: WRITE_ACTIONS, resources: objects([...readWrite, ...writeOnly]) }),
        );
      }
      const listable = [...read, ...readWrite];
      if (listable.length > 0) {
        // Spark lists "directories" both as `prefix/…` and as the bare `prefix` key.
        const prefixes = listable.flatMap((p) => [`${p}*`, p.replace(/\/$/, '')]);
        statements.push(
          new iam.PolicyStatement({
            sid: `List${i}`,
            actions: ['s3:ListBucket'],
            resources: [access.bucket.bucketArn],
            conditions: { StringLike: { 's3:prefix': prefixes } },
          }),
        );
      }
      statements.push(
        new iam.PolicyStatement({
          sid: `Bucket${i}`,
          actions: ['s3:GetBucketLocation', 's3:ListBucketMultipartUploads'],
          resources: [access.bucket.bucketArn],
        }),
      );
    });
    if (props.databaseSecret) statements.push(...databaseSecretStatements(props.databaseSecret));
    const policy = new iam.Policy(this, 'Policy', { statements });
    this.role.attachInlinePolicy(policy);

    acknowledgeIamWildcards(policy, [
      {
        finding: /^Resource::.+\/[A-Za-z0-9_/-]+\/\*$/,
        reason:
          'Job role: object ARNs end in "<prefix>/*" for exactly the key prefixes the Spark jobs read/write ' +
          '(datasets are directories of generated part files); no bucket-wide or service-wide wildcard is granted.',
      },
    ]);
  }

  /** Allow `grantee` to pass this role, and only to EMR Serverless. */
  public grantPassRole(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['iam:PassRole'],
      resourceArns: [this.role.roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': EMR_SERVERLESS_PRINCIPAL } },
    });
  }
}
