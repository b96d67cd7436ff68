import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { JobArtifacts } from '../lib/constructs/job-artifacts';
import { writeArtifacts } from './support/artifacts-fixture';

function synth(artifactsDir: string, removalPolicy?: RemovalPolicy) {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'job-artifacts-'));
  const app = new App({ outdir });
  const stack = new Stack(app, 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
  const bucket = new s3.Bucket(stack, 'Artifacts');
  const artifacts = new JobArtifacts(stack, 'JobArtifacts', { bucket, artifactsDir, removalPolicy });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
  try {
    app.synth();
  } catch {
    // findings are read from the validation report
  }
  const reportFile = path.join(outdir, 'validation-report.json');
  const report = fs.existsSync(reportFile)
    ? (JSON.parse(fs.readFileSync(reportFile, 'utf8')) as { pluginReports: Array<{ violations: Array<{ ruleName: string; violatingConstructs: Array<{ constructPath: string }> }> }> })
    : { pluginReports: [] };
  const findings = report.pluginReports.flatMap((p) => p.violations.flatMap((v) => v.violatingConstructs.map((c) => `${v.ruleName} ${c.constructPath}`)));
  const template = Template.fromJSON(JSON.parse(fs.readFileSync(path.join(outdir, 'Test.template.json'), 'utf8')));
  return { artifacts, template, findings: findings.filter((f) => f.includes('/JobArtifacts/')) };
}

describe('JobArtifacts construct', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'job-artifacts-src-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('deploys every manifest file as an asset and publishes them through the custom resource', () => {
    const dir = path.join(tmp, 'built');
    const { manifest, text } = writeArtifacts(dir);
    const { artifacts, template, findings } = synth(dir, RemovalPolicy.DESTROY);
    const sha = createHash('sha256').update(text).digest('hex');
    expect(artifacts.manifestSha256).toBe(sha);
    expect(artifacts.manifestKey).toBe(`manifests/${sha}.json`);
    expect(artifacts.missingReason).toBeUndefined();
    template.hasResourceProperties('Custom::JobArtifacts', {
      ArtifactsBucket: { Ref: Match.stringLikeRegexp('Artifacts') },
      RemovalPolicy: 'destroy',
      Manifest: text,
      ManifestSha256: sha,
      Sources: manifest.artifacts.map((a) => ({
        File: a.file,
        SourceBucket: Match.anyValue(),
        SourceKey: Match.stringLikeRegexp(`^[0-9a-f]{64}\\.${a.file.split('.').pop()}$`),
      })),
    });
    template.hasResourceProperties('AWS::Lambda::Function', { Runtime: 'nodejs24.x', Timeout: 600, TracingConfig: { Mode: 'Active' } });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: 's3:DeleteObject' })]) },
    });
    expect(findings).toEqual([]);
  });

  it('never grants delete when the artifacts are retained', () => {
    const dir = path.join(tmp, 'built-retain');
    writeArtifacts(dir);
    const { template, findings } = synth(dir);
    template.hasResourceProperties('Custom::JobArtifacts', { RemovalPolicy: 'retain' });
    const policies = JSON.stringify(template.findResources('AWS::IAM::Policy'));
    expect(policies).not.toContain('s3:DeleteObject');
    expect(findings).toEqual([]);
  });

  it('synthesizes on a fresh clone and defers the error to deploy time', () => {
    const { artifacts, template, findings } = synth(path.join(tmp, 'never-built'));
    expect(artifacts.manifestKey).toBe('manifests/current.json');
    template.hasResourceProperties('Custom::JobArtifacts', {
      MissingArtifacts: Match.stringLikeRegexp('not built .*run `npm run package` before `cdk deploy`'),
    });
    expect(JSON.stringify(template.toJSON())).not.toContain('"Sources"');
    expect(findings).toEqual([]);
  });

  it('defers a stale build (file changed after packaging) to a deploy-time error naming the file', () => {
    const dir = path.join(tmp, 'stale');
    writeArtifacts(dir);
    fs.writeFileSync(path.join(dir, 'pyfiles.zip'), 'edited after packaging');
    const { artifacts } = synth(dir);
    expect(artifacts.missingReason).toMatch(/pyfiles\.zip has 22 bytes, the manifest says 13/);
  });
});
