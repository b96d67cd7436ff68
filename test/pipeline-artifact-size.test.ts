import { App, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, ftruncateSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseStageConfig, type StageConfigInput } from '../lib/config/stage-config';
import { ArtifactSizeError, CFN_ACTION_INPUT_LIMIT_BYTES, checkCfnActionInputSize } from '../lib/stacks/cloud-assembly-size';
import { DeploymentPipelineStack } from '../lib/stacks/deployment-pipeline-stack';
import { writeArtifacts } from './support/artifacts-fixture';

/** R3: CloudFormation actions in CodePipeline accept input artifacts of at most 256 MB. */

const CONNECTION = 'arn:aws:codeconnections:eu-west-1:111111111111:connection/0a1b2c3d-aaaa-bbbb-cccc-123456789012';
const PIPELINE = { enabled: true, connectionArn: CONNECTION, repository: 'acme/emr-ml-pipelines', branch: 'main' };

type Action = { Name: string; ActionTypeId: { Category: string; Provider: string }; InputArtifacts?: Array<{ Name: string }>; OutputArtifacts?: Array<{ Name: string }> };
type PipelineStage = { Name: string; Actions: Action[] };

function synth(options: { artifactsDir?: string; nag?: boolean; bundle?: boolean; stages?: Record<string, StageConfigInput> } = {}) {
  const outdir = mkdtempSync(join(tmpdir(), 'pipeline-size-'));
  // with bundling the assembly holds the Lambda bundles, as in the pipeline's synth
  const app = new App({ outdir, ...(options.bundle === false ? { context: { 'aws:cdk:bundling-stacks': [] } } : {}) });
  const stages = options.stages ?? { dev: { pipeline: PIPELINE, destroyDataOnDelete: true }, prod: {} };
  const home = parseStageConfig('dev', stages.dev);
  const stack = new DeploymentPipelineStack(app, 'emr-ml-deployment-pipeline', {
    ...(home.account ? { env: { account: home.account, region: home.region } } : {}),
    homeConfig: home,
    devConfig: parseStageConfig('dev', stages.dev),
    prodConfig: parseStageConfig('prod', stages.prod),
    artifactsDir: options.artifactsDir,
  });
  if (options.nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  try {
    app.synth();
  } catch {
    // findings are read from the validation report
  }
  const template = Template.fromJSON(JSON.parse(readFileSync(join(outdir, `${stack.artifactId}.template.json`), 'utf8')));
  const pipeline = Object.values(template.findResources('AWS::CodePipeline::Pipeline'))[0]!;
  return { outdir, stack, template, stages: pipeline.Properties.Stages as PipelineStage[] };
}

function buildSpecOf(template: Template, fragment: string): { phases: { install: { commands: string[] }; build: { commands: string[] } }; artifacts: Record<string, unknown> } {
  const specs = Object.values(template.findResources('AWS::CodeBuild::Project')).map((p) => String(p.Properties.Source.BuildSpec));
  const match = specs.filter((s) => s.includes(fragment));
  expect(match).toHaveLength(1);
  return JSON.parse(match[0]!);
}

describe('deployment pipeline with packaged job artifacts', () => {
  const artifactsDir = mkdtempSync(join(tmpdir(), 'pipeline-size-artifacts-'));
  writeArtifacts(artifactsDir);
  let s: ReturnType<typeof synth>;
  beforeAll(() => {
    s = synth({ artifactsDir, nag: true });
  });

  test('the job artifacts are published by their own step after the synth and removed from the cloud assembly', () => {
    // staged once in the assembly root (both stages reference the same content-addressed files)
    expect(s.stack.publishedBeforeDeploy).toHaveLength(3);
    for (const file of s.stack.publishedBeforeDeploy) {
      expect(file).toMatch(/^asset\.[0-9a-f]{64}\.(tar\.gz|zip|py)$/);
      expect(existsSync(join(s.outdir, file))).toBe(true);
    }
    const build = s.stages.find((st) => st.Name === 'Build')!.Actions;
    expect(build.map((a) => a.Name)).toEqual(['Synth', 'PublishJobArtifacts']);
    const spec = buildSpecOf(s.template, 'rm -rf');
    expect(spec.phases.install.commands).toEqual(['npm install -g cdk-assets@latest']);
    const publish = spec.phases.build.commands.filter((c) => c.startsWith('cdk-assets'));
    // 3 artifacts, once: dev and prod share the account and region (so the asset bucket)
    expect(publish).toHaveLength(3);
    // exactly the commands the Assets stage runs for them (which then finds them published and skips them)
    const assetsStage = Object.values(s.template.findResources('AWS::CodeBuild::Project'))
      .map((p) => String(p.Properties.Source.BuildSpec))
      .filter((spec) => !spec.includes('rm -rf') && spec.includes('cdk-assets'))
      .flatMap((spec) => (JSON.parse(spec) as { phases: { build: { commands: string[] } } }).phases.build.commands);
    for (const c of publish) {
      expect(c).toMatch(/^cdk-assets --path "assembly-emr-ml-deployment-pipeline-(dev|prod)\/[A-Za-z0-9]+\.assets\.json" --verbose publish "[0-9a-f]{64}:[\w-]+"$/);
      expect(assetsStage).toContain(c);
    }
    expect(spec.phases.build.commands.filter((c) => c.startsWith('rm -rf'))).toEqual(s.stack.publishedBeforeDeploy.map((f) => `rm -rf "${f}"`));
    expect(spec.phases.build.commands.at(-1)).toContain(`-ge ${CFN_ACTION_INPUT_LIMIT_BYTES}`);
    expect(spec.artifacts['base-directory']).toBe('.');
  });

  test('every CloudFormation action (and the assets and self-mutation steps) takes the assembly without them', () => {
    const build = s.stages.find((st) => st.Name === 'Build')!.Actions;
    const synthOutput = build.find((a) => a.Name === 'Synth')!.OutputArtifacts![0]!.Name;
    const slim = build.find((a) => a.Name === 'PublishJobArtifacts')!;
    expect(slim.InputArtifacts!.map((i) => i.Name)).toEqual([synthOutput]);
    const slimOutput = slim.OutputArtifacts![0]!.Name;
    const cfn = s.stages.flatMap((st) => st.Actions).filter((a) => a.ActionTypeId.Provider === 'CloudFormation' && a.InputArtifacts?.length);
    expect(cfn.map((a) => a.Name).sort()).toEqual(['emr-ml-dev.Prepare', 'emr-ml-prod.Prepare']);
    for (const a of s.stages.flatMap((st) => st.Actions).filter((x) => x.InputArtifacts?.length && x.Name !== 'PublishJobArtifacts')) {
      if (a.ActionTypeId.Category === 'Source' || a.Name === 'SmokeTest') continue;
      expect(a.InputArtifacts!.map((i) => i.Name)).not.toContain(synthOutput);
    }
    for (const a of cfn) expect(a.InputArtifacts!.map((i) => i.Name)).toEqual([slimOutput]);
  });

  test('the step may assume only the stages\' CDK file-publishing roles', () => {
    const policies = Object.values(s.template.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.PolicyDocument).includes('file-publishing-role'),
    );
    const assume = policies.flatMap((p) => p.Properties.PolicyDocument.Statement as Array<{ Action: string; Resource: unknown }>).filter((st) => st.Action === 'sts:AssumeRole');
    expect(JSON.stringify(assume)).toContain('cdk-hnb659fds-file-publishing-role-${AWS::AccountId}-${AWS::Region}');
  });

  test('cdk-nag: no finding on the publishing step', () => {
    const report = JSON.parse(readFileSync(join(s.outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: Array<{ violations: Array<{ ruleName: string; violatingConstructs: Array<{ constructPath: string }> }> }>;
    };
    const findings = report.pluginReports.flatMap((p) => p.violations.flatMap((v) => v.violatingConstructs.map((c) => `${v.ruleName} ${c.constructPath}`)));
    expect(findings.filter((f) => /PublishJobArtifacts/.test(f))).toEqual([]);
    expect(findings).toEqual([]);
  });

  test('the synthesized assembly, without the published job artifacts, stays under 256 MB', () => {
    const { totalBytes, files } = checkCfnActionInputSize(s.outdir, { publishedSeparately: s.stack.publishedBeforeDeploy });
    expect(totalBytes).toBeGreaterThan(0);
    expect(totalBytes).toBeLessThan(CFN_ACTION_INPUT_LIMIT_BYTES);
    expect(files.map((f) => f.path)).toEqual(expect.arrayContaining([expect.stringMatching(/^assembly-emr-ml-deployment-pipeline-dev\/.+\.template\.json$/)]));
    for (const published of s.stack.publishedBeforeDeploy) expect(files.map((f) => f.path)).not.toContain(published);
  });

  test('the check fails naming the largest files and their sizes when the input is over the limit', () => {
    const { files } = checkCfnActionInputSize(s.outdir, { publishedSeparately: s.stack.publishedBeforeDeploy });
    const largest = files[0]!;
    expect(() => checkCfnActionInputSize(s.outdir, { publishedSeparately: s.stack.publishedBeforeDeploy, limitBytes: 1024 })).toThrow(ArtifactSizeError);
    expect(() => checkCfnActionInputSize(s.outdir, { publishedSeparately: s.stack.publishedBeforeDeploy, limitBytes: 1024 })).toThrow(
      new RegExp(`not under the 1\\.0 KB CodePipeline accepts as input of a CloudFormation action; largest files: ${largest.path.replace(/[.]/g, '\\.')} `),
    );
  });
});

describe('deployment pipeline with prod in another account', () => {
  const artifactsDir = mkdtempSync(join(tmpdir(), 'pipeline-size-artifacts-'));
  writeArtifacts(artifactsDir);

  test('the artifacts are published to each account\'s asset bucket through its file-publishing role', () => {
    const home = { account: '111111111111', region: 'eu-west-1' };
    const s = synth({
      artifactsDir,
      bundle: false,
      stages: { dev: { ...home, pipeline: PIPELINE, destroyDataOnDelete: true }, prod: { account: '222222222222', region: 'eu-west-1' } },
    });
    const spec = buildSpecOf(s.template, 'rm -rf');
    expect(spec.phases.build.commands.filter((c) => c.startsWith('cdk-assets'))).toHaveLength(6);
    const assume = JSON.stringify(
      Object.values(s.template.findResources('AWS::IAM::Policy'))
        .flatMap((p) => p.Properties.PolicyDocument.Statement as Array<{ Action: string; Resource: unknown }>)
        .filter((st) => st.Action === 'sts:AssumeRole' && JSON.stringify(st.Resource).includes('file-publishing')),
    );
    expect(assume).toContain('role/cdk-hnb659fds-file-publishing-role-111111111111-eu-west-1');
    expect(assume).toContain('role/cdk-hnb659fds-file-publishing-role-222222222222-eu-west-1');
  });
});

describe('deployment pipeline without packaged job artifacts (a fresh clone)', () => {
  test('no publishing step: the synth output is the cloud assembly, as before', () => {
    const s = synth({ artifactsDir: join(tmpdir(), 'never-packaged-artifacts'), bundle: false });
    expect(s.stack.jobArtifactsStep).toBeUndefined();
    expect(s.stack.publishedBeforeDeploy).toEqual([]);
    expect(s.stages.find((st) => st.Name === 'Build')!.Actions.map((a) => a.Name)).toEqual(['Synth']);
    expect(() => checkCfnActionInputSize(s.outdir)).not.toThrow();
  });
});

describe('checkCfnActionInputSize (pure)', () => {
  /** A sparse file: `bytes` long, no disk blocks. */
  const sparse = (file: string, bytes: number) => {
    const fd = openSync(file, 'w');
    ftruncateSync(fd, bytes);
    closeSync(fd);
  };
  const dir = mkdtempSync(join(tmpdir(), 'assembly-size-'));
  mkdirSync(join(dir, 'assembly-x'));
  writeFileSync(join(dir, 'assembly-x', 'stack.template.json'), '{}');
  writeFileSync(join(dir, 'manifest.json'), '{}');
  sparse(join(dir, 'asset.1111.tar.gz'), 300 * 1024 * 1024);
  sparse(join(dir, 'assembly-x', 'huge.template.json'), 200 * 1024 * 1024);

  test('an oversized input fails with the total, the limit and the largest files', () => {
    expect(() => checkCfnActionInputSize(dir)).toThrow(
      `The cloud assembly ${dir} is 500.0 MB (4 files), not under the 256.0 MB CodePipeline accepts as input of a CloudFormation action; ` +
        'largest files: asset.1111.tar.gz 300.0 MB, assembly-x/huge.template.json 200.0 MB, assembly-x/stack.template.json 2 B, manifest.json 2 B.',
    );
  });

  test('files published before the assembly is handed on do not count', () => {
    expect(checkCfnActionInputSize(dir, { publishedSeparately: ['asset.1111.tar.gz'] }).totalBytes).toBe(200 * 1024 * 1024 + 4);
    expect(() => checkCfnActionInputSize(dir, { publishedSeparately: ['asset.1111.tar.gz'], limitBytes: 100 * 1024 * 1024 })).toThrow(
      /\(3 files, without the 1 job-artifact files published before it\).*largest files: assembly-x\/huge\.template\.json 200\.0 MB/,
    );
    expect(checkCfnActionInputSize(dir, { publishedSeparately: ['asset.1111.tar.gz', 'assembly-x/huge.template.json'] }).totalBytes).toBe(4);
  });
});
