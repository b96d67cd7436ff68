import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AssetHashType, CustomResource, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';
import { buildTargetId } from '../config/emr-releases';
import { builtForMismatches, CURRENT_MANIFEST_KEY, describeBuild, type ExpectedBuild, Manifest, manifestKey, parseManifest } from '../jobs/manifest';
import { acknowledgeIamWildcards, XRAY_ALLOWANCE } from './nag-acknowledgements';

/** Repository root (this file is lib/constructs/job-artifacts.ts). */
const PROJECT_ROOT = path.resolve(__dirname, '..', '..');

/** The key prefixes the custom resource reads and writes in the artifacts bucket. */
const ARTIFACT_PREFIXES = ['artifacts/', 'manifests/'] as const;

/** How long one publishing invocation may run (the Lambda's timeout). */
const PUBLISH_TIMEOUT = Duration.minutes(10);
/**
 * How long CloudFormation waits for the custom resource's answer (`ServiceTimeout`, 1-3600 s, default 3600): just
 * above the function's own timeout, so an invocation that hangs or dies without answering fails the stack
 * operation a minute after Lambda stopped it, not after an hour.
 */
const SERVICE_TIMEOUT = PUBLISH_TIMEOUT.plus(Duration.minutes(1));

export interface JobArtifactsProps {
  /** Bucket the artifacts are published to (`artifacts/<sha256>/<file>`, `manifests/…`). */
  readonly bucket: s3.IBucket;
  /**
   * Directory holding `manifest.json` and the files it lists, as written by `npm run package`.
   * @default <repository>/artifacts/targets/<target id> when `target` is set and `npm run package -- --all-stages`
   * built it, else <repository>/artifacts
   */
  readonly artifactsDir?: string;
  /**
   * What the stage needs its artifacts built for (release, Python, CPU: a `BuildTarget` of
   * lib/config/emr-releases.ts) and the stage's name. A packaged manifest whose `builtFor` differs fails synth with
   * an {@link ArtifactsMismatchError} naming the stage, what it needs and what was built.
   * @default - the manifest's `builtFor` is not checked
   */
  readonly target?: ExpectedBuild & { readonly stage: string };
  /**
   * Accept a host build (`npm run package -- --architecture host`: the build machine's wheels) for `target`: only for
   * an app that runs on the build machine, never for one deployed to EMR Serverless.
   * @default false
   */
  readonly acceptHostBuild?: boolean;
  /**
   * What deleting the stack does to the published artifacts: `DESTROY` removes the current manifest's objects,
   * anything else keeps them.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /** @default lambda.Architecture.ARM_64 */
  readonly architecture?: lambda.Architecture;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * Deploys the artifacts built by `npm run package`: each file listed in `artifacts/manifest.json` is a CDK file
 * asset (hash = its SHA-256 from the manifest, so synth never re-hashes large archives), and a custom resource
 * (`lambda/package-dependencies`) publishes them to content-addressed keys and writes `manifests/<sha256>.json`
 * and `manifests/current.json`. Updates never delete published artifacts; job runs pin exact versions.
 *
 * On a fresh clone (`npm run package` not run) synth still succeeds: no assets are added and the custom resource
 * fails the deployment with a message saying to run `npm run package` first.
 */
export class JobArtifacts extends Construct {
  /** The parsed manifest, when the artifacts have been built. */
  public readonly manifest?: Manifest;
  /** SHA-256 of `manifest.json`, when built. */
  public readonly manifestSha256?: string;
  /**
   * Key of the manifest the job-request Lambdas should read: the immutable `manifests/<sha256>.json` when built
   * (cacheable forever; changes with every new build, so dependent Lambdas are updated by the same deployment),
   * otherwise `manifests/current.json`.
   */
  public readonly manifestKey: string;
  /** Why the artifacts cannot be deployed, when they are not built. */
  public readonly missingReason?: string;
  public readonly function: nodejs.NodejsFunction;
  public readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: JobArtifactsProps) {
    super(scope, id);
    const dir = props.artifactsDir ?? defaultArtifactsDir(props.target);
    const destroy = props.removalPolicy === RemovalPolicy.DESTROY;
    const loaded = loadBuiltArtifacts(dir);
    if (loaded.manifest && props.target) checkBuiltFor(loaded.manifest, props.target, dir, props.acceptHostBuild ?? false);
    this.missingReason = loaded.missing;

    const logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    const role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: 'Publishes job artifacts and the artifact manifest (deploy time)',
    });
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
    this.function = new nodejs.NodejsFunction(this, 'Function', {
      role,
      entry: path.join(PROJECT_ROOT, 'lambda', 'package-dependencies', 'index.ts'),
      handler: 'handler',
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: props.architecture ?? lambda.Architecture.ARM_64,
      memorySize: 512,
      timeout: PUBLISH_TIMEOUT,
      tracing: lambda.Tracing.ACTIVE,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
      systemLogLevelV2: lambda.SystemLogLevel.WARN,
      description: 'ML pipelines: package-dependencies (publishes job artifacts at deploy time)',
      environment: { POWERTOOLS_SERVICE_NAME: 'package-dependencies', NODE_OPTIONS: '--enable-source-maps' },
      bundling: { minify: true, sourceMap: true, target: 'node22', externalModules: [], forceDockerBundling: false },
    });

    // Publishing: CopyObject/HeadObject on content-addressed keys, PutObject of the manifest and pointer.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: ARTIFACT_PREFIXES.map((p) => props.bucket.arnForObjects(`${p}*`)),
      }),
    );
    // The handler looks up keys that do not exist yet (a new build's artifacts; manifests/current.json on a first
    // deploy and on its rollback). S3 answers such a HeadObject/GetObject with 404 only to a caller that may list
    // the bucket (evaluated with s3:prefix = the key), else with 403 AccessDenied — so it may list exactly the two
    // prefixes it reads.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [props.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': ARTIFACT_PREFIXES.map((p) => `${p}*`) } },
      }),
    );
    if (destroy) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['s3:DeleteObject'],
          resources: ARTIFACT_PREFIXES.map((p) => props.bucket.arnForObjects(`${p}*`)),
        }),
      );
    }

    const sources: Array<{ File: string; SourceBucket: string; SourceKey: string }> = [];
    if (loaded.manifest) {
      loaded.manifest.artifacts.forEach((artifact) => {
        const asset = new s3assets.Asset(this, `Artifact-${artifact.file}`, {
          path: path.join(dir, artifact.file),
          assetHash: artifact.sha256,
          assetHashType: AssetHashType.CUSTOM,
        });
        role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [asset.bucket.arnForObjects(asset.s3ObjectKey)] }));
        sources.push({ File: artifact.file, SourceBucket: asset.s3BucketName, SourceKey: asset.s3ObjectKey });
      });
    }
    if (props.bucket.encryptionKey) {
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'], resources: [props.bucket.encryptionKey.keyArn] }),
      );
    }

    this.resource = new CustomResource(this, 'Resource', {
      serviceToken: this.function.functionArn,
      serviceTimeout: SERVICE_TIMEOUT,
      resourceType: 'Custom::JobArtifacts',
      properties: {
        ArtifactsBucket: props.bucket.bucketName,
        RemovalPolicy: destroy ? 'destroy' : 'retain',
        ...(loaded.manifest
          ? { Manifest: loaded.text, ManifestSha256: loaded.sha256, Sources: sources }
          : { MissingArtifacts: loaded.missing }),
      },
    });
    this.resource.node.addDependency(role);
    this.manifest = loaded.manifest;
    this.manifestSha256 = loaded.sha256;
    this.manifestKey = loaded.sha256 ? manifestKey(loaded.sha256) : CURRENT_MANIFEST_KEY;

    acknowledgeIamWildcards(this, [
      XRAY_ALLOWANCE,
      {
        finding: /^Resource::.+\/(artifacts|manifests)\/\*$/,
        reason: 'Artifact keys are content-addressed (artifacts/<sha256>/<file>, manifests/<sha256>.json): they are only known at build time, so access is limited to the two prefixes.',
      },
    ]);
    Validations.of(this.function).acknowledge({
      id: 'Serverless-LambdaDLQ',
      reason: 'Invoked only by CloudFormation as a custom resource; the outcome is reported to CloudFormation, which fails and rolls back the deployment — there is nothing to dead-letter.',
    });
    Validations.of(this.function).acknowledge({
      id: 'Serverless-LambdaAsyncFailureDestination',
      reason: 'Invoked only by CloudFormation as a custom resource; failures are reported to the stack operation itself.',
    });
  }
}

/** A packaged manifest built for another release, Python or CPU than the stage runs. */
export class ArtifactsMismatchError extends Error {
  override readonly name = 'ArtifactsMismatchError';
}

/** `artifacts/targets/<target id>/` when `npm run package -- --all-stages` built the target, else `artifacts/`. */
function defaultArtifactsDir(target: ExpectedBuild | undefined): string {
  const root = path.join(PROJECT_ROOT, 'artifacts');
  const own = target ? path.join(root, 'targets', buildTargetId(target)) : undefined;
  return own && fs.existsSync(path.join(own, 'manifest.json')) ? own : root;
}

/** @throws ArtifactsMismatchError when the manifest was built for something other than the stage's target. */
function checkBuiltFor(manifest: Manifest, target: ExpectedBuild & { readonly stage: string }, dir: string, acceptHostBuild: boolean): void {
  if (acceptHostBuild && manifest.builtFor.architecture === 'host') return;
  const mismatches = builtForMismatches(manifest.builtFor, target);
  if (mismatches.length === 0) return;
  const file = path.relative(PROJECT_ROOT, path.join(dir, 'manifest.json')) || path.join(dir, 'manifest.json');
  throw new ArtifactsMismatchError(
    `Stage "${target.stage}" needs job artifacts built for ${describeBuild(target)}, but ${file} was built for ` +
      `${describeBuild(manifest.builtFor)} (${mismatches.join('; ')}): run \`npm run package -- --stage ${target.stage}\` ` +
      '(or `npm run package -- --all-stages`) before synth.',
  );
}

interface LoadedArtifacts {
  manifest?: Manifest;
  text?: string;
  sha256?: string;
  missing?: string;
}

/** Reads and checks `manifest.json`; an unbuilt or incomplete build becomes a deploy-time error message. */
function loadBuiltArtifacts(dir: string): LoadedArtifacts {
  const file = path.join(dir, 'manifest.json');
  if (!fs.existsSync(file)) {
    return { missing: `Job artifacts are not built (${path.relative(PROJECT_ROOT, file) || file} not found): run \`npm run package\` before \`cdk deploy\`.` };
  }
  const text = fs.readFileSync(file, 'utf-8');
  let manifest: Manifest;
  try {
    manifest = parseManifest(JSON.parse(text), 'artifacts/manifest.json');
  } catch (error) {
    return { missing: `${(error as Error).message}: re-run \`npm run package\` before \`cdk deploy\`.` };
  }
  const problems = manifest.artifacts
    .map((a) => {
      const p = path.join(dir, a.file);
      if (!fs.existsSync(p)) return `${a.file} is missing`;
      if (fs.statSync(p).size !== a.size) return `${a.file} has ${fs.statSync(p).size} bytes, the manifest says ${a.size}`;
      return undefined;
    })
    .filter((p): p is string => p !== undefined);
  if (problems.length) return { missing: `Job artifacts do not match artifacts/manifest.json (${problems.join('; ')}): re-run \`npm run package\` before \`cdk deploy\`.` };
  return { manifest, text, sha256: createHash('sha256').update(text, 'utf-8').digest('hex') };
}
