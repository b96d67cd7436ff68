import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseStageConfig, StageConfigError, type StageConfigInput } from '../lib/config/stage-config';
import { addDeploymentPipeline, DeploymentPipelineStack, pinnedCdkCliVersion, readmeTestLine } from '../lib/stacks/deployment-pipeline-stack';

const CONNECTION = 'arn:aws:codeconnections:eu-west-1:111111111111:connection/0a1b2c3d-aaaa-bbbb-cccc-123456789012';
const PIPELINE = { enabled: true, connectionArn: CONNECTION, repository: 'acme/emr-ml-pipelines', branch: 'release' };

interface Finding {
  rule: string;
  path: string;
}

interface Synthesized {
  outdir: string;
  stack: DeploymentPipelineStack;
  template: Template;
  devPipelines: Template;
  findings: Finding[];
}

/** Synthesizes an app holding only the deployment pipeline, with cdk-nag, and returns its findings. */
function synth(stages: Record<string, StageConfigInput>): Synthesized {
  const outdir = mkdtempSync(join(tmpdir(), 'pipeline-stack-'));
  const app = new App({ outdir });
  const stack = addDeploymentPipeline(app, parseStageConfig('dev', stages.dev), (stage) => parseStageConfig(stage, stages[stage]));
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  try {
    app.synth();
  } catch {
    // findings are read from the validation report below
  }
  const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
    pluginReports: Array<{ violations: Array<{ ruleName: string; violatingConstructs: Array<{ constructPath: string }> }> }>;
  };
  const findings = report.pluginReports.flatMap((p) =>
    p.violations.flatMap((v) => v.violatingConstructs.map((c) => ({ rule: v.ruleName, path: c.constructPath }))),
  );
  // Templates come from the written assembly (Template.fromStack would re-run the validation plugins).
  const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
  const devDir = join(outdir, readdirSync(outdir).find((d) => d.startsWith('assembly-') && d.endsWith('-dev'))!);
  const devTemplates = readdirSync(devDir).filter((f) => f.endsWith('.template.json'));
  expect(devTemplates).toHaveLength(1);
  return {
    outdir,
    stack,
    template: Template.fromJSON(json(join(outdir, `${stack.artifactId}.template.json`))),
    devPipelines: Template.fromJSON(json(join(devDir, devTemplates[0]!))),
    findings,
  };
}

/** cfn-lint (from the project venv) over the pipeline template and every stage template: errors only. */
function cfnLint(s: Synthesized): { status: number | null; output: string } {
  const templates = [
    join(s.outdir, `${s.stack.artifactId}.template.json`),
    ...readdirSync(s.outdir)
      .filter((d) => d.startsWith('assembly-'))
      .flatMap((d) => readdirSync(join(s.outdir, d)).filter((f) => f.endsWith('.template.json')).map((f) => join(s.outdir, d, f))),
  ];
  expect(templates).toHaveLength(3);
  const r = spawnSync(join(__dirname, '..', '.venv', 'bin', 'cfn-lint'), ['--format', 'parseable', '--non-zero-exit-code', 'error', '--', ...templates], { encoding: 'utf8' });
  return { status: r.status, output: r.stdout.split('\n').filter((l) => /:E\d{4}:/.test(l)).join('\n') };
}

/** Findings on what this issue adds: the pipeline stack itself and the smoke-test role in the dev stage. */
const ownFindings = (s: Synthesized) =>
  s.findings.filter((f) => f.path.startsWith(`${s.stack.node.path}/Pipeline`) || f.path.includes('/SmokeTestRole'));

type Action = { Name: string; ActionTypeId: { Category: string; Provider: string }; RunOrder?: number; Configuration?: Record<string, unknown> };
type PipelineStage = { Name: string; Actions: Action[] };

function stagesOf(template: Template): PipelineStage[] {
  const pipelines = Object.values(template.findResources('AWS::CodePipeline::Pipeline'));
  expect(pipelines).toHaveLength(1);
  return pipelines[0]!.Properties.Stages as PipelineStage[];
}

function buildSpecOf(template: Template, fragment: string): string {
  const specs = Object.values(template.findResources('AWS::CodeBuild::Project')).map((p) => String(p.Properties.Source.BuildSpec));
  const match = specs.filter((s) => s.includes(fragment));
  expect(match).toHaveLength(1);
  return match[0]!;
}

describe('deployment pipeline (single account)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth({ dev: { pipeline: PIPELINE, destroyDataOnDelete: true }, prod: { destroyDataOnDelete: false } });
  });

  test('stages: source, synth, self-mutation, assets, dev, prod', () => {
    expect(stagesOf(s.template).map((st) => st.Name)).toEqual(['Source', 'Build', 'UpdatePipeline', 'Assets', 'dev', 'prod']);
    s.template.hasResourceProperties('AWS::CodePipeline::Pipeline', { Name: 'emr-ml-dev-deployment', PipelineType: 'V2' });
  });

  test('source is the CodeConnections connection, repository and branch from the stage config', () => {
    const source = stagesOf(s.template).find((st) => st.Name === 'Source')!.Actions;
    expect(source).toHaveLength(1);
    expect(source[0]!.ActionTypeId).toMatchObject({ Category: 'Source', Provider: 'CodeStarSourceConnection' });
    expect(source[0]!.Configuration).toMatchObject({ ConnectionArn: CONNECTION, FullRepositoryId: 'acme/emr-ml-pipelines', BranchName: 'release' });
  });

  test('synth step runs the README test line, then cdk synth of the home stage', () => {
    expect(readmeTestLine()).toBe('bash scripts/setup.sh && npm test');
    const spec = buildSpecOf(s.template, 'scripts/synth.sh');
    const test = spec.indexOf('bash scripts/setup.sh && npm test');
    const cdkSynth = spec.indexOf('bash scripts/synth.sh dev');
    expect(test).toBeGreaterThan(-1);
    expect(JSON.parse(spec).phases.build.commands).toEqual(['bash scripts/setup.sh && npm test', 'npm run package -- --all-stages', 'bash scripts/synth.sh dev']);
    expect(cdkSynth).toBeGreaterThan(test);
    expect(JSON.parse(spec).artifacts['base-directory']).toBe('cdk.out');
    s.template.hasResourceProperties('AWS::CodeBuild::Project', {
      Environment: Match.objectLike({ Image: 'public.ecr.aws/docker/library/node:20-bookworm', ComputeType: 'BUILD_GENERAL1_LARGE' }),
      Source: Match.objectLike({ BuildSpec: Match.stringLikeRegexp('scripts/synth.sh') }),
    });
  });

  test('self-mutating: the UpdatePipeline stage runs cdk deploy of the pipeline stack', () => {
    const update = stagesOf(s.template).find((st) => st.Name === 'UpdatePipeline')!.Actions;
    expect(update.map((a) => a.Name)).toEqual(['SelfMutate']);
    const spec = JSON.parse(buildSpecOf(s.template, 'cdk -a . deploy'));
    expect(JSON.stringify(spec)).toContain('emr-ml-deployment-pipeline');
    // the CLI version package.json pins, so the self-mutation can read the app's cloud assembly
    expect(pinnedCdkCliVersion()).toMatch(/^2\.\d+\.\d+$/);
    expect(spec.phases.install.commands).toContain(`npm install -g aws-cdk@${pinnedCdkCliVersion()}`);
  });

  test('dev deploys the platform stack automatically, then the smoke test; prod waits for a manual approval', () => {
    const stages = stagesOf(s.template);
    const dev = stages.find((st) => st.Name === 'dev')!.Actions;
    const prod = stages.find((st) => st.Name === 'prod')!.Actions;
    const deployed = (actions: Action[]) =>
      actions.filter((a) => a.ActionTypeId.Provider === 'CloudFormation' && a.Configuration?.ActionMode === 'CHANGE_SET_REPLACE').map((a) => a.Configuration!.StackName);
    expect(deployed(dev)).toEqual(['emr-ml-dev']);
    expect(deployed(prod)).toEqual(['emr-ml-prod']);
    expect(dev.some((a) => a.ActionTypeId.Category === 'Approval')).toBe(false);
    const smoke = dev.find((a) => a.Name === 'SmokeTest')!;
    const lastDeploy = Math.max(...dev.filter((a) => a.ActionTypeId.Provider === 'CloudFormation').map((a) => a.RunOrder ?? 1));
    expect(smoke.ActionTypeId).toMatchObject({ Category: 'Build', Provider: 'CodeBuild' });
    expect(smoke.RunOrder).toBeGreaterThan(lastDeploy);
    const approval = prod.find((a) => a.ActionTypeId.Category === 'Approval')!;
    expect(approval).toMatchObject({ Name: 'PromoteToProd', ActionTypeId: { Provider: 'Manual' }, RunOrder: 1 });
    expect(Math.min(...prod.filter((a) => a.ActionTypeId.Provider === 'CloudFormation').map((a) => a.RunOrder ?? 1))).toBeGreaterThan(1);
  });

  test('the smoke test runs emrpipe smoke on the bundled sample as the stage smoke-test role', () => {
    const spec = buildSpecOf(s.template, 'smoke --sample-dir');
    const commands = JSON.parse(spec).phases.build.commands as string[];
    expect(commands).toEqual([
      'aws configure set profile.smoke.role_arn "$SMOKE_ROLE_ARN"',
      'aws configure set profile.smoke.credential_source EcsContainer',
      'AWS_PROFILE=smoke node bin/emrpipe.mjs --stage "$STAGE" --region "$STAGE_REGION" --poll-seconds 15 smoke --sample-dir data/sample/netflix --run-id "build-$CODEBUILD_BUILD_NUMBER"',
    ]);
    const smokeAction = stagesOf(s.template).find((st) => st.Name === 'dev')!.Actions.find((a) => a.Name === 'SmokeTest')!;
    expect(JSON.stringify(smokeAction.Configuration?.EnvironmentVariables)).toContain('SMOKE_ROLE_ARN');
    expect(JSON.parse(String(smokeAction.Configuration?.EnvironmentVariables))).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'SMOKE_ROLE_ARN', type: 'PLAINTEXT', value: expect.stringMatching(/^#\{.+\.SmokeTestRoleArn\}$/) })]),
    );
    s.template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: 'sts:AssumeRole',
            Resource: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':role/emr-ml-dev-smoke-test']] },
          }),
        ]),
      },
    });
  });

  test('the dev stage holds the smoke-test role: start recommender-training, follow it, read outputs, upload to smoke/', () => {
    s.devPipelines.hasResourceProperties('AWS::IAM::Role', {
      RoleName: 'emr-ml-dev-smoke-test',
      AssumeRolePolicyDocument: {
        Statement: [Match.objectLike({ Action: 'sts:AssumeRole', Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::', { Ref: 'AWS::AccountId' }, ':root']] } } })],
      },
    });
    const policies = s.devPipelines.findResources('AWS::IAM::Policy', { Properties: { PolicyName: Match.stringLikeRegexp('SmokeTestRole') } });
    const statements = Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement as Array<{ Action: string | string[] }>);
    const actions = statements.flatMap((st) => (Array.isArray(st.Action) ? st.Action : [st.Action])).sort();
    expect(actions).toEqual([
      'cloudformation:DescribeStacks',
      's3:Abort*',
      's3:PutObject',
      's3:PutObjectLegalHold',
      's3:PutObjectRetention',
      's3:PutObjectTagging',
      's3:PutObjectVersionTagging',
      'states:DescribeExecution',
      'states:GetExecutionHistory',
      'states:StartExecution',
    ]);
    s.devPipelines.hasOutput('SmokeTestRoleArn', {});
    s.devPipelines.hasOutput('RecommenderTrainingStateMachineArn', {});
  });

  test('single account: no KMS key (S3-managed artifact encryption)', () => {
    s.template.resourceCountIs('AWS::KMS::Key', 0);
  });

  test('cdk-nag (AwsSolutions + Serverless): zero unacknowledged findings in the whole app, pipeline included', () => {
    expect(ownFindings(s)).toEqual([]);
    expect(s.findings).toEqual([]);
  });

  test('cfn-lint: 0 errors in the pipeline and stage templates', () => {
    expect(cfnLint(s)).toEqual({ status: 0, output: '' });
  });
});

describe('deployment pipeline (prod in another account)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synth({
      dev: { account: '111111111111', region: 'eu-west-1', pipeline: PIPELINE, destroyDataOnDelete: true },
      prod: { account: '222222222222', region: 'eu-west-1' },
    });
  });

  test('cross-account: a rotated KMS key encrypts artifacts and prod deploys through the prod account roles', () => {
    s.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    const prod = stagesOf(s.template).find((st) => st.Name === 'prod')!.Actions;
    const deploys = prod.filter((a) => a.ActionTypeId.Provider === 'CloudFormation');
    expect(deploys.length).toBeGreaterThan(0);
    for (const action of deploys) expect(JSON.stringify(action)).toContain(':iam::222222222222:role/cdk-hnb659fds-deploy-role-222222222222-eu-west-1');
  });

  test('cfn-lint: 0 errors in the pipeline and stage templates', () => {
    expect(cfnLint(s)).toEqual({ status: 0, output: '' });
  });

  test('the dev smoke-test role trusts the pipeline account', () => {
    s.devPipelines.hasResourceProperties('AWS::IAM::Role', {
      RoleName: 'emr-ml-dev-smoke-test',
      AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::111111111111:root']] } } })] },
    });
  });

  test('cdk-nag (AwsSolutions + Serverless): zero unacknowledged findings in the whole app, pipeline included', () => {
    expect(ownFindings(s)).toEqual([]);
    expect(s.findings).toEqual([]);
  });
});

describe('configuration errors', () => {
  const app = () => new App({ outdir: mkdtempSync(join(tmpdir(), 'pipeline-cfg-')) });
  const build = (pipeline: Record<string, unknown>) =>
    new DeploymentPipelineStack(app(), 'P', {
      homeConfig: parseStageConfig('dev', { pipeline }),
      devConfig: parseStageConfig('dev', {}),
      prodConfig: parseStageConfig('prod', {}),
    });

  test('a missing or malformed connection ARN names the field', () => {
    expect(() => build({ enabled: true, repository: 'acme/x' })).toThrow(StageConfigError);
    expect(() => build({ enabled: true, repository: 'acme/x' })).toThrow(/stages\.dev\.pipeline\.connectionArn/);
    expect(() => build({ enabled: true, repository: 'acme/x', connectionArn: 'arn:aws:s3:::bucket' })).toThrow(/pipeline\.connectionArn/);
  });

  test('stages in other accounts need an explicit pipeline account and region, named in the error', () => {
    const crossAccount = () =>
      new DeploymentPipelineStack(app(), 'P', {
        homeConfig: parseStageConfig('dev', { pipeline: PIPELINE }),
        devConfig: parseStageConfig('dev', {}),
        prodConfig: parseStageConfig('prod', { account: '222222222222', region: 'eu-west-1' }),
      });
    expect(crossAccount).toThrow(StageConfigError);
    expect(crossAccount).toThrow(/stages\.dev\.account: the pipeline's stage must set account and region/);
  });

  test('a missing repository names the field', () => {
    expect(() => build({ enabled: true, connectionArn: CONNECTION })).toThrow(/stages\.dev\.pipeline\.repository: must be "owner\/repository"/);
  });
});
