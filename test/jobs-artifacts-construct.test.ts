import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { CopyObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { CloudFormationCustomResourceEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { createHandler, type PackageDependenciesProperties } from '../lambda/package-dependencies/index';
import { JobArtifacts } from '../lib/constructs/job-artifacts';
import { writeArtifacts } from './support/artifacts-fixture';
import { AuthorizedS3 } from './support/authorized-s3';
import { deployedIam, type TemplateJson } from './support/local-iam';

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
    // a missing key must answer 404, not 403: ListBucket on the bucket, only for the prefixes the handler reads
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Action: 's3:ListBucket',
            Effect: 'Allow',
            Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^Artifacts'), 'Arn'] },
            Condition: { StringLike: { 's3:prefix': ['artifacts/*', 'manifests/*'] } },
          },
        ]),
      },
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

  it('CloudFormation gives up on the custom resource just after the function\'s own timeout, not after the default hour', () => {
    const { template } = synth(path.join(tmp, 'never-built-timeout'));
    const [resource] = Object.values(template.findResources('Custom::JobArtifacts'));
    const [fn] = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('package-dependencies') } }));
    const serviceTimeout = Number(resource!.Properties.ServiceTimeout);
    const functionTimeout = fn!.Properties.Timeout as number;
    expect(functionTimeout).toBe(600);
    // above the function's timeout (an invocation Lambda stops still gets to answer), and far below 3600 s
    expect(serviceTimeout).toBeGreaterThan(functionTimeout);
    expect(serviceTimeout).toBeLessThanOrEqual(functionTimeout + 120);
  });

  it('defers a stale build (file changed after packaging) to a deploy-time error naming the file', () => {
    const dir = path.join(tmp, 'stale');
    writeArtifacts(dir);
    fs.writeFileSync(path.join(dir, 'pyfiles.zip'), 'edited after packaging');
    const { artifacts } = synth(dir);
    expect(artifacts.missingReason).toMatch(/pyfiles\.zip has 22 bytes, the manifest says 13/);
  });
});

/**
 * The deployed pair, not each half alone: the handler runs with the properties the template gives the custom
 * resource, as the role the template gives it, against an S3 that answers as AWS does — every call decided by the
 * project's IAM evaluator (local/iam) over the template's policies, a missing key 404 only with s3:ListBucket,
 * else 403. D1 of the deploy review: HeadObject of a not-yet-published artifact answered 403 and the first
 * deployment failed; this is the test that catches it.
 */
describe('JobArtifacts custom resource under its own role (S3 answering as AWS does)', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'job-artifacts-iam-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const s3mock = mockClient(S3Client);
  const handler = createHandler(new S3Client({ region: 'eu-west-1' }));
  beforeEach(() => s3mock.reset());
  const iamOf = (template: TemplateJson) => deployedIam(template, { stackName: 'Test', accountId: '123456789012', region: 'eu-west-1' });

  function deployed(name: string, removalPolicy?: RemovalPolicy) {
    const dir = path.join(tmp, name);
    writeArtifacts(dir);
    const template = synth(dir, removalPolicy).template.toJSON() as TemplateJson;
    const { deployment, stack, authz } = iamOf(template);
    const [customResource] = Object.entries(template.Resources!).find(([, r]) => r.Type === 'Custom::JobArtifacts')!;
    const role = authz.store.customResourceRole(customResource)!;
    const props = deployment.resolve(stack, template.Resources![customResource]!.Properties!) as unknown as PackageDependenciesProperties;
    const store = new AuthorizedS3(authz, role).install(s3mock).bucket(props.ArtifactsBucket);
    // what `cdk deploy` uploaded as assets before the custom resource runs
    for (const source of props.Sources!) store.put(source.SourceBucket, source.SourceKey, fs.readFileSync(path.join(dir, source.File)));
    return { template, role, props, store };
  }
  const event = (RequestType: 'Create' | 'Update' | 'Delete', props: PackageDependenciesProperties, PhysicalResourceId?: string) =>
    ({
      RequestType,
      ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:f',
      ResponseURL: 'https://example.invalid/response',
      StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/Test/1',
      RequestId: 'r1',
      LogicalResourceId: 'JobArtifactsResource',
      ResourceType: 'Custom::JobArtifacts',
      ResourceProperties: { ServiceToken: 'x', ...props },
      ...(PhysicalResourceId ? { PhysicalResourceId } : {}),
    }) as unknown as CloudFormationCustomResourceEvent;

  it('first deploy into an empty bucket publishes every artifact, the manifest and the pointer; a re-deploy copies nothing', async () => {
    const { props, store } = deployed('first-deploy');
    await expect(handler(event('Create', props))).resolves.toMatchObject({ PhysicalResourceId: `${props.ArtifactsBucket}/manifests` });
    const manifest = JSON.parse(props.Manifest!) as { artifacts: Array<{ key: string }> };
    expect(store.keys(props.ArtifactsBucket)).toEqual(
      [...manifest.artifacts.map((a) => a.key), `manifests/${props.ManifestSha256}.json`, 'manifests/current.json'].sort(),
    );
    s3mock.resetHistory();
    await handler(event('Update', props, `${props.ArtifactsBucket}/manifests`));
    expect(s3mock.commandCalls(CopyObjectCommand)).toHaveLength(0);
  });

  it('without s3:ListBucket the same first deploy fails on the 403, naming the key and the permission (the D1 defect)', async () => {
    const { props, template, store } = deployed('no-list', RemovalPolicy.DESTROY);
    store.actAs(iamOf(withoutStatements(template, /^JobArtifactsRole/, (s) => [s.Action].flat().includes('s3:ListBucket'))).authz);
    await expect(handler(event('Create', props))).rejects.toThrow(
      new RegExp(`^HeadObject s3://${props.ArtifactsBucket}/artifacts/[0-9a-f]{64}/.+: AccessDenied \\(HTTP 403\\)\\..*s3:ListBucket`),
    );
    expect(store.keys(props.ArtifactsBucket)).toEqual([]); // nothing published, the pointer never moved
    // ... and its rollback Delete: a 403 is not "nothing published" (that would hide a real denial)
    await expect(handler(event('Delete', props, 'JobArtifactsResource-failed-create'))).rejects.toThrow(
      new RegExp(`^GetObject s3://${props.ArtifactsBucket}/manifests/current\\.json: AccessDenied \\(HTTP 403\\)`),
    );
  });

  it('the rollback Delete of a failed first deploy (nothing published) succeeds and deletes nothing', async () => {
    const { props, store } = deployed('rollback', RemovalPolicy.DESTROY);
    await expect(handler(event('Delete', props, 'JobArtifactsResource-failed-create'))).resolves.toEqual({ PhysicalResourceId: 'JobArtifactsResource-failed-create' });
    expect(store.keys(props.ArtifactsBucket)).toEqual([]);
  });

  it('Delete with destroy removes what this deployment published', async () => {
    const { props, store } = deployed('destroy', RemovalPolicy.DESTROY);
    await handler(event('Create', props));
    await handler(event('Delete', props, `${props.ArtifactsBucket}/manifests`));
    expect(store.keys(props.ArtifactsBucket)).toEqual([]);
  });
});

/** A copy of the template whose AWS::IAM::Policy resources named like `policyName` lack the statements `drop` picks. */
function withoutStatements(template: TemplateJson, policyName: RegExp, drop: (statement: { Action?: unknown }) => boolean): TemplateJson {
  const copy = structuredClone(template);
  let dropped = 0;
  for (const resource of Object.values(copy.Resources ?? {})) {
    const p = resource.Properties as { PolicyName?: unknown; PolicyDocument?: { Statement: Array<{ Action?: unknown }> } } | undefined;
    if (resource.Type !== 'AWS::IAM::Policy' || !policyName.test(String(p?.PolicyName)) || !p?.PolicyDocument) continue;
    const kept = p.PolicyDocument.Statement.filter((s) => !drop(s));
    dropped += p.PolicyDocument.Statement.length - kept.length;
    p.PolicyDocument.Statement = kept;
  }
  if (dropped === 0) throw new Error(`withoutStatements: no statement of a policy named like ${policyName} was dropped`);
  return copy;
}
