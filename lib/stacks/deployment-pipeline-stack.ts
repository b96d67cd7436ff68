import { ArnFormat, Aws, CfnOutput, type CfnResource, Duration, Fn, Stack, Stage, Validations, type StackProps, type StageProps } from 'aws-cdk-lib';
import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import { PipelineType } from 'aws-cdk-lib/aws-codepipeline';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import * as pipelines from 'aws-cdk-lib/pipelines';
import type { Construct } from 'constructs';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { StageConfigError, type StageConfig } from '../config/stage-config';
import { acknowledgeIamWildcards, type WildcardAllowance } from '../constructs/nag-acknowledgements';
import { NAMESPACE_ROOT } from '../pipelines/common';
import { CFN_ACTION_INPUT_LIMIT_BYTES } from './cloud-assembly-size';
import { addPlatform, stackNames, type Platform } from './platform';
import { addPlatformOutputs, type PlatformOutputs } from './platform-outputs';

/** Build image of the synth step: Debian bookworm with Node 20, like the development machine. */
export const SYNTH_IMAGE = 'public.ecr.aws/docker/library/node:20-bookworm';

/** Physical name of the role the deployment pipeline's smoke test assumes in a stage's account. */
export const smokeTestRoleName = (stage: string) => `emr-ml-${stage}-smoke-test`;

export interface PlatformStageProps extends StageProps {
  readonly config: StageConfig;
  /**
   * Give the stage a smoke-test role that the deployment pipeline's account may assume (the post-deploy smoke
   * test starts recommender-training through it). `fromAccount` omitted = the stage's own account.
   * @default - no smoke-test role
   */
  readonly smokeTest?: { readonly fromAccount?: string };
  /**
   * Directory of the packaged job artifacts (`npm run package` output).
   * @default - the stage's default (`JobArtifacts`)
   */
  readonly artifactsDir?: string;
}

/**
 * One stage of the platform as a CDK Pipelines deployment unit: the same stack(s) `cdk deploy` creates, under the
 * same names (`stackNames(stage)`, e.g. `emr-ml-dev`), with the same outputs.
 */
export class PlatformStage extends Stage {
  public readonly platform: Platform;
  public readonly outputs: PlatformOutputs;
  /** ARN of the smoke-test role, when one was requested. */
  public readonly smokeTestRoleArn?: CfnOutput;

  constructor(scope: Construct, id: string, props: PlatformStageProps) {
    super(scope, id, props);
    this.platform = addPlatform(this, props.config, props.artifactsDir ? { artifactsDir: props.artifactsDir } : {});
    this.outputs = addPlatformOutputs(this.platform);
    if (props.smokeTest) {
      this.smokeTestRoleArn = addSmokeTestRole(this.platform, props.config.stage, props.smokeTest.fromAccount);
    }
  }
}

/**
 * A role in the stage's account allowed exactly what `emrpipe smoke` does: read the stage's stack outputs, upload
 * the sample under `smoke/` in the lake bucket (its run's namespace `smoke/<run>/`), start recommender-training
 * (input `{"namespace": "smoke/<run>"}`) and follow its execution.
 */
function addSmokeTestRole(platform: Platform, stage: string, pipelineAccount: string | undefined): CfnOutput {
  const stack = platform.pipelines;
  const machine = stack.stateMachines['recommender-training'].stateMachine;
  const role = new iam.Role(stack, 'SmokeTestRole', {
    roleName: smokeTestRoleName(stage),
    assumedBy: pipelineAccount ? new iam.AccountPrincipal(pipelineAccount) : new iam.AccountRootPrincipal(),
    description: `Post-deploy smoke test of stage ${stage}, assumed by the deployment pipeline`,
    maxSessionDuration: Duration.hours(2),
  });
  machine.grantStartExecution(role);
  const executions = stack.formatArn({
    service: 'states',
    resource: 'execution',
    resourceName: `${machine.stateMachineName}:*`,
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({ actions: ['states:DescribeExecution', 'states:GetExecutionHistory'], resources: [executions] }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ['cloudformation:DescribeStacks'],
      resources: Object.values(stackNames(stage)).map((name) =>
        stack.formatArn({ service: 'cloudformation', resource: 'stack', resourceName: `${name}/*` }),
      ),
    }),
  );
  // the sample goes to <lake>/smoke/<run>/bronze/netflix/raw/ (the run's namespace, lib/pipelines/common.ts)
  platform.storage.storage.lakeBucket.grantPut(role, `${NAMESPACE_ROOT}*`);
  acknowledgeIamWildcards(role, [
    {
      finding: /^Resource::arn:<AWS::Partition>:states:(?:<AWS::Region>|[a-z0-9-]+):(?:<AWS::AccountId>|\d{12}):execution:<RecommenderTraining[0-9A-F]+\.Name>:\*$/,
      reason: 'Smoke test follows the execution it starts; execution names are only known at run time, so the ARN is scoped to executions of the recommender-training state machine.',
    },
    {
      finding: /^Resource::arn:<AWS::Partition>:cloudformation:(?:<AWS::Region>|[a-z0-9-]+):(?:<AWS::AccountId>|\d{12}):stack\/emr-ml-[a-z0-9-]+\/\*$/,
      reason: "Smoke test reads this stage's stack outputs; a stack ARN ends in a generated stack id, so it is scoped to the stage's named stack.",
    },
    {
      finding: /^Resource::<[A-Za-z0-9]*Lake[0-9A-F]*\.Arn>\/smoke\/\*$/,
      reason: "Smoke test uploads the bundled sample under the lake bucket's smoke/ prefix only.",
    },
    {
      finding: /^Action::s3:Abort\*$/,
      reason: 'Bucket.grantPut adds s3:Abort* (abort its own multipart uploads) on the same smoke/ prefix.',
    },
  ]);
  return new CfnOutput(stack, 'SmokeTestRoleArn', { value: role.roleArn, description: 'Role the deployment pipeline assumes for the smoke test' });
}

/** The exact `aws-cdk` CLI version package.json pins. */
export function pinnedCdkCliVersion(packageJsonPath = join(__dirname, '..', '..', 'package.json')): string {
  const pkg = JSON.parse(readFileSync(packageJsonPath, 'utf8')) as { devDependencies?: Record<string, string>; dependencies?: Record<string, string> };
  const version = pkg.devDependencies?.['aws-cdk'] ?? pkg.dependencies?.['aws-cdk'];
  if (!version || !/^\d+\.\d+\.\d+$/.test(version)) throw new Error(`package.json must pin the aws-cdk CLI to an exact version, found "${version}"`);
  return version;
}

/** The README's Quick start test line (line 2 of its code block): the synth step runs exactly this. */
export function readmeTestLine(readmePath = join(__dirname, '..', '..', 'README.md')): string {
  const text = readFileSync(readmePath, 'utf8');
  const block = /## Quick start\s*\n```[^\n]*\n([\s\S]*?)```/.exec(text);
  const lines = block?.[1]?.split('\n').filter((l) => l.trim()) ?? [];
  if (lines.length !== 2) throw new Error(`README.md: the "## Quick start" block must hold exactly two lines, found ${lines.length}`);
  return lines[1]!.trim();
}

export interface DeploymentPipelineStackProps extends StackProps {
  /** Config of the stage that holds the `pipeline` block (the pipeline's home; `cdk deploy -c stage=<it>`). */
  readonly homeConfig: StageConfig;
  /** Deployed automatically, then smoke-tested. */
  readonly devConfig: StageConfig;
  /** Deployed after a manual approval. */
  readonly prodConfig: StageConfig;
  /**
   * Command line that runs all tests in the synth step.
   * @default - line 2 of the README's Quick start block
   */
  readonly testCommand?: string;
  /**
   * Directory (in the source) of the tiny Netflix sample the smoke test runs on.
   * @default 'data/sample/netflix'
   */
  readonly smokeSampleDir?: string;
  /**
   * Directory of the packaged job artifacts the stages deploy.
   * @default - each stage's default (`JobArtifacts`)
   */
  readonly artifactsDir?: string;
}

/**
 * The CI/CD pipeline (CDK Pipelines, self-mutating): source from a CodeConnections connection → synth (all tests,
 * then `cdk synth`) → stage `dev` (deployed automatically, then a smoke test running recommender-training on the
 * bundled tiny sample) → manual approval → stage `prod`. Stages in other accounts get cross-account KMS keys.
 */
export class DeploymentPipelineStack extends Stack {
  public readonly pipeline: pipelines.CodePipeline;
  public readonly devStage: PlatformStage;
  public readonly prodStage: PlatformStage;
  public readonly synthStep: pipelines.CodeBuildStep;
  /**
   * Publishes the stages' job artifacts and removes them from the cloud assembly (the pipeline's `synth`, after
   * `synthStep`); absent when no job artifacts are packaged.
   */
  public readonly jobArtifactsStep?: pipelines.CodeBuildStep;
  /**
   * Files of the cloud assembly (relative to its root) that `jobArtifactsStep` publishes and removes, so the
   * CloudFormation actions never receive them: exclude them from {@link checkCfnActionInputSize}.
   */
  public readonly publishedBeforeDeploy: readonly string[];
  public readonly smokeTest: pipelines.CodeBuildStep;
  public readonly approval: pipelines.ManualApprovalStep;

  constructor(scope: Construct, id: string, props: DeploymentPipelineStackProps) {
    super(scope, id, props);
    const { homeConfig, devConfig, prodConfig } = props;
    const settings = homeConfig.pipeline;
    const field = (name: string) => `stages.${homeConfig.stage}.pipeline.${name}`;
    if (!settings.connectionArn || !/^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection\/[0-9a-f-]+$/.test(settings.connectionArn)) {
      throw new StageConfigError(`Invalid configuration: ${field('connectionArn')}: must be a CodeConnections connection ARN when the pipeline is enabled`);
    }
    if (!settings.repository || !/^[\w.-]+\/[\w.-]+$/.test(settings.repository)) {
      throw new StageConfigError(`Invalid configuration: ${field('repository')}: must be "owner/repository" when the pipeline is enabled`);
    }

    const differs = (cfg: StageConfig) => cfg.account !== undefined && cfg.account !== homeConfig.account;
    const crossAccount = differs(devConfig) || differs(prodConfig);
    const elsewhere = (cfg: StageConfig) => differs(cfg) || (cfg.region !== undefined && cfg.region !== homeConfig.region);
    if ((elsewhere(devConfig) || elsewhere(prodConfig)) && (!homeConfig.account || !homeConfig.region)) {
      throw new StageConfigError(
        `Invalid configuration: stages.${homeConfig.stage}.${homeConfig.account ? 'region' : 'account'}: the pipeline's stage must set account and region when a stage it deploys is in another account or region`,
      );
    }

    const source = pipelines.CodePipelineSource.connection(settings.repository, settings.branch, {
      connectionArn: settings.connectionArn,
      triggerOnPush: true,
    });

    const testCommand = props.testCommand ?? readmeTestLine();
    this.synthStep = new pipelines.CodeBuildStep('Synth', {
      input: source,
      // The test line expects the development machine: Debian bookworm (PostgreSQL 15, Java 17 from apt),
      // Python 3.11, Node 20 — the official node:20-bookworm image, from the ECR Public mirror of Docker Library.
      buildEnvironment: {
        buildImage: codebuild.LinuxBuildImage.fromDockerRegistry(SYNTH_IMAGE),
        computeType: codebuild.ComputeType.LARGE,
      },
      installCommands: ['apt-get update -qq', 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip'],
      // tests, then the job artifacts of every stage's release/Python/CPU (artifacts/targets/<target>/, which each
      // stage's synth takes and checks), then `cdk synth` into cdk.out
      commands: [testCommand, 'npm run package -- --all-stages', `bash scripts/synth.sh ${homeConfig.stage}`],
      primaryOutputDirectory: 'cdk.out',
      timeout: Duration.minutes(60),
    });

    // The stages first: their job artifacts decide the step that publishes them (below).
    const stageEnv = (cfg: StageConfig) => (cfg.account || cfg.region ? { account: cfg.account, region: cfg.region } : undefined);
    this.devStage = new PlatformStage(this, devConfig.stage, {
      config: devConfig,
      env: stageEnv(devConfig),
      smokeTest: { fromAccount: homeConfig.account },
      artifactsDir: props.artifactsDir,
    });
    this.prodStage = new PlatformStage(this, prodConfig.stage, { config: prodConfig, env: stageEnv(prodConfig), artifactsDir: props.artifactsDir });

    // R3: CloudFormation actions take input artifacts of at most 256 MB, and CDK Pipelines gives them (like the
    // asset and self-mutation steps) the whole cloud assembly. The job artifacts (Python deps, models, uber-JAR:
    // hundreds of MB) are therefore published to the stages' CDK asset buckets by their own step right after the
    // synth, with the command the Assets stage runs, and removed from the assembly the rest of the pipeline gets;
    // the Assets stage then finds them published (cdk-assets checks the destination before it reads a source).
    const jobArtifacts = jobArtifactAssets(this, [this.devStage, this.prodStage]);
    this.publishedBeforeDeploy = [...new Set(jobArtifacts.map((a) => a.sourcePath))].sort();
    if (jobArtifacts.length > 0) {
      this.jobArtifactsStep = new pipelines.CodeBuildStep('PublishJobArtifacts', {
        input: this.synthStep,
        installCommands: [`npm install -g cdk-assets@${CDK_ASSETS_VERSION}`],
        commands: [
          // one command per destination (`<asset>:<destination>`; stages in one account and region share it)
          ...jobArtifacts
            .filter((a, i) => jobArtifacts.findIndex((b) => b.selector === a.selector) === i)
            .map((a) => `cdk-assets --path "${a.manifestPath}" --verbose publish "${a.selector}"`),
          ...this.publishedBeforeDeploy.map((file) => `rm -rf "${file}"`),
          // what the CloudFormation actions receive; the synth checked it already (checkCfnActionInputSize)
          `size=$(du -sb . | cut -f1); echo "cloud assembly: $size bytes"; if [ "$size" -ge ${CFN_ACTION_INPUT_LIMIT_BYTES} ]; then du -ab . | sort -rn | head -n 8; exit 1; fi`,
        ],
        primaryOutputDirectory: '.',
        rolePolicyStatements: [
          new iam.PolicyStatement({
            actions: ['sts:AssumeRole'],
            resources: [...new Set(jobArtifacts.map((a) => a.publishingRoleArn))].map((arn) => Fn.sub(arn)),
          }),
        ],
        timeout: Duration.minutes(30),
      });
    }

    this.pipeline = new pipelines.CodePipeline(this, 'Pipeline', {
      pipelineName: `emr-ml-${homeConfig.stage}-deployment`,
      // self-mutation and asset publishing use the CDK CLI this project pins (it must read the app's assembly schema)
      cliVersion: pinnedCdkCliVersion(),
      pipelineType: PipelineType.V2,
      // the cloud assembly every later step and action takes: without the job artifacts once they are published
      synth: this.jobArtifactsStep ?? this.synthStep,
      selfMutation: true,
      crossAccountKeys: crossAccount,
      enableKeyRotation: crossAccount,
      dockerEnabledForSynth: false,
      codeBuildDefaults: {
        buildEnvironment: {
          buildImage: codebuild.LinuxBuildImage.STANDARD_7_0,
          computeType: codebuild.ComputeType.MEDIUM,
        },
      },
    });

    const devAccount = devConfig.account ?? Aws.ACCOUNT_ID;
    const devRegion = devConfig.region ?? Aws.REGION;
    const smokeRoleArn = `arn:${Aws.PARTITION}:iam::${devAccount}:role/${smokeTestRoleName(devConfig.stage)}`;
    this.smokeTest = new pipelines.CodeBuildStep('SmokeTest', {
      input: source,
      envFromCfnOutputs: { SMOKE_ROLE_ARN: this.devStage.smokeTestRoleArn! },
      env: { STAGE: devConfig.stage, STAGE_REGION: devRegion, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      partialBuildSpec: codebuild.BuildSpec.fromObject({ phases: { install: { 'runtime-versions': { nodejs: 20 } } } }),
      installCommands: ['npm ci --no-audit --no-fund'],
      commands: [
        'aws configure set profile.smoke.role_arn "$SMOKE_ROLE_ARN"',
        'aws configure set profile.smoke.credential_source EcsContainer',
        `AWS_PROFILE=smoke node bin/emrpipe.mjs --stage "$STAGE" --region "$STAGE_REGION" --poll-seconds 15 smoke --sample-dir ${props.smokeSampleDir ?? 'data/sample/netflix'} --run-id "build-$CODEBUILD_BUILD_NUMBER"`,
      ],
      rolePolicyStatements: [new iam.PolicyStatement({ actions: ['sts:AssumeRole'], resources: [smokeRoleArn] })],
      timeout: Duration.minutes(90),
    });
    this.approval = new pipelines.ManualApprovalStep('PromoteToProd', {
      comment: `dev passed its smoke test (recommender-training on the bundled sample). Deploy this commit to ${prodConfig.stage}?`,
    });
    this.pipeline.addStage(this.devStage, { post: [this.smokeTest] });
    this.pipeline.addStage(this.prodStage, { pre: [this.approval] });
    this.pipeline.buildPipeline();
    this.acknowledgePipelineFindings(crossAccount);
  }

  /** cdk-nag findings on the constructs CDK Pipelines generates, each acknowledged with its reason. */
  private acknowledgePipelineFindings(crossAccount: boolean): void {
    const pipelineAllowances: WildcardAllowance[] = [
      {
        finding: /^Action::s3:(GetObject|GetBucket|List|DeleteObject|Abort|PutObject)\*$/,
        reason: "CDK Pipelines grants its roles read/write on the pipeline's own artifact bucket (Bucket.grantReadWrite); the wildcard actions apply to that bucket only.",
      },
      {
        finding: /^Resource::<PipelineArtifactsBucket[0-9A-F]+\.Arn>\/\*$/,
        reason: "Objects of the pipeline's own artifact bucket (source and cloud-assembly artifacts of every run).",
      },
      {
        finding: /^Resource::arn:<AWS::Partition>:logs:(?:<AWS::Region>|[a-z0-9-]+):(?:<AWS::AccountId>|\d{12}):log-group:\/aws\/codebuild\/.*$/,
        reason: 'CodeBuild writes its build logs to log groups named after the project (/aws/codebuild/<project>), created at run time.',
      },
      {
        finding: /^Resource::arn:<AWS::Partition>:codebuild:(?:<AWS::Region>|[a-z0-9-]+):(?:<AWS::AccountId>|\d{12}):report-group\/.*$/,
        reason: 'CodeBuild test-report groups are named after the project and created at run time.',
      },
      {
        finding: /^Resource::arn:\*:iam::.*:role\/\*$/,
        reason: 'Self-mutation assumes only the CDK bootstrap roles (condition iam:ResourceTag/aws-cdk:bootstrap-role in deploy, file-publishing, image-publishing).',
      },
      {
        finding: /^Resource::\*$/,
        reason: 'CDK Pipelines: self-mutation needs cloudformation:DescribeStacks and s3:ListBucket across the bootstrap resources; the asset role starts its CodeBuild asset builds; neither action supports narrower resources before the names exist.',
      },
      {
        finding: /^Action::kms:(GenerateDataKey|ReEncrypt)\*$/,
        reason: "Cross-account pipelines encrypt artifacts with the pipeline's own KMS key; CDK Pipelines grants encrypt/decrypt on that key only.",
      },
    ];
    acknowledgeIamWildcards(this, pipelineAllowances);
    // cfn-lint E3703 asks for Fn::Sub instead of the Fn::Join CDK Pipelines writes for the deploy actions' RoleArn;
    // both resolve to the same ARN string, so the style rule is ignored on this one resource.
    (this.pipeline.pipeline.node.defaultChild as CfnResource).addMetadata('cfn-lint', { config: { ignore_checks: ['E3703'] } });
    const synthProject = this.synthStep.project.node.defaultChild as codebuild.CfnProject;
    Validations.of(synthProject).acknowledge({
      id: 'AwsSolutions-CB5',
      reason: `The synth step runs the full test suite, which needs the development environment (Debian bookworm: PostgreSQL 15 and Java 17 from apt, Python 3.11, Node 20); it uses the official ${SYNTH_IMAGE} image from the ECR Public mirror of Docker Library.`,
    });
    const artifactBucket = this.pipeline.pipeline.artifactBucket;
    Validations.of(artifactBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'Pipeline artifact bucket: holds only the transient source and cloud-assembly artifacts each run rewrites, accessed by the pipeline roles alone; CloudTrail records the API access.',
    });
    if (!crossAccount) {
      for (const node of this.node.findAll()) {
        if (node instanceof codebuild.CfnProject) {
          Validations.of(node).acknowledge({
            id: 'AwsSolutions-CB4',
            reason: 'Single-account pipeline: build artifacts are encrypted at rest with the artifact bucket\'s S3-managed keys; with stages in other accounts (crossAccountKeys) CDK Pipelines encrypts with its own KMS key.',
          });
        }
      }
    }
  }
}

/** cdk-assets version of the job-artifact publishing step: the one CDK Pipelines' Assets stage installs (its default). */
const CDK_ASSETS_VERSION = 'latest';

/** One job artifact of a stage stack as CDK Pipelines publishes it. */
interface JobArtifactAsset {
  /** The stack's asset manifest, relative to the cloud assembly root. */
  readonly manifestPath: string;
  /** `<asset id>:<destination id>` (cdk-assets `publish` argument). */
  readonly selector: string;
  /** The staged file, relative to the cloud assembly root. */
  readonly sourcePath: string;
  /** With `${AWS::…}` placeholders. */
  readonly publishingRoleArn: string;
}

/**
 * The file assets of the stages' `JobArtifacts` (lib/constructs/job-artifacts.ts: one per packaged artifact, hash =
 * its SHA-256) as their stacks' asset manifests list them: the stages are synthesized here, as `addStage` does.
 */
function jobArtifactAssets(scope: Stack, stages: readonly PlatformStage[]): JobArtifactAsset[] {
  const root = Stage.of(scope)!.outdir;
  return stages.flatMap((stage) => {
    // the artifacts' own assets (direct children), not the code of the publishing Lambda below it
    const hashes = new Set(
      stage.platform.stack.artifacts.node.children.filter((c): c is s3assets.Asset => c instanceof s3assets.Asset).map((a) => a.assetHash),
    );
    if (hashes.size === 0) return [];
    return pipelines.StageDeployment.fromStage(stage).stacks.flatMap((stack) =>
      stack.assets
        .filter((asset) => hashes.has(asset.assetId) && !asset.isTemplate)
        .map((asset) => {
          const manifest = JSON.parse(readFileSync(asset.assetManifestPath, 'utf8')) as { files: Record<string, { source: { path: string } }> };
          const source = resolve(dirname(asset.assetManifestPath), manifest.files[asset.assetId]!.source.path);
          if (!asset.assetPublishingRoleArn) throw new Error(`job artifact asset ${asset.assetId} of ${stack.stackName} has no publishing role`);
          return {
            manifestPath: toPosix(relative(root, asset.assetManifestPath)),
            selector: asset.assetSelector,
            sourcePath: toPosix(relative(root, source)),
            publishingRoleArn: asset.assetPublishingRoleArn,
          };
        }),
    );
  });
}

const toPosix = (p: string) => p.split('\\').join('/');

/** Name of the deployment pipeline stack. */
export const DEPLOYMENT_PIPELINE_STACK_NAME = 'emr-ml-deployment-pipeline';

/**
 * Adds the deployment pipeline to the app (`bin/app.ts`, when the selected stage has `pipeline.enabled`): it lives
 * in that stage's account/region and deploys stages `dev` then `prod` (their configs from `cdk.json`).
 */
export function addDeploymentPipeline(
  scope: Construct,
  homeConfig: StageConfig,
  stageConfig: (stage: string) => StageConfig,
): DeploymentPipelineStack {
  const env = homeConfig.account || homeConfig.region ? { account: homeConfig.account, region: homeConfig.region } : undefined;
  return new DeploymentPipelineStack(scope, DEPLOYMENT_PIPELINE_STACK_NAME, {
    env,
    homeConfig,
    devConfig: stageConfig('dev'),
    prodConfig: stageConfig('prod'),
    description: 'ML pipelines: CI/CD (CDK Pipelines) — test, synth, deploy dev, smoke test, approve, deploy prod',
  });
}
