/**
 * The four deploy-breaking defects of the December review (deploy-review-2026-12.md D1–D4), each re-created
 * against the synthesized template — its statement dropped (or denied) in a copy of the assembly — and run by the
 * local runner under IAM enforcement: the local deploy, execution or smoke test fails with AccessDenied naming the
 * action, while the template as synthesized passes (the fixed template's runs are in local-pipelines.test.ts and
 * the smoke run below).
 */
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { smokeInput } from '../cli/commands/smoke';
import { recommenderKeys } from '../lib/pipelines/recommender-training';
import { packageArtifacts } from '../local/artifacts';
import { failureMessage } from '../local/index';
import { LocalRuntime } from '../local/runtime';
import { seedNewsTable } from '../local/sample-data';
import { synthesize } from '../local/synth';

const projectRoot = path.resolve(__dirname, '..');
const work = path.join(projectRoot, '.local', 'test-iam-defects');
const assembly = path.join(projectRoot, '.local', 'cdk.out-iam-defects');
const sample = path.join(projectRoot, 'data', 'sample', 'netflix');
jest.setTimeout(600_000);

type Statement = { Effect: string; Action: string | string[]; Resource?: unknown };
type Template = { Resources: Record<string, { Type: string; Properties: Record<string, any> }> };

const actions = (st: Statement) => [st.Action].flat();
const templateFile = (dir: string) => path.join(dir, 'emr-ml-dev.template.json');

/** A copy of the synthesized assembly whose template `edit` changed; `edit` returns how many statements it touched. */
function mutatedAssembly(name: string, edit: (template: Template) => number): string {
  // beside the original: the bundles' source maps name the handler sources by relative path
  const dir = `${assembly}-${name}`;
  rmSync(dir, { recursive: true, force: true });
  cpSync(assembly, dir, { recursive: true });
  const template = JSON.parse(readFileSync(templateFile(dir), 'utf8')) as Template;
  expect(edit(template)).toBeGreaterThan(0); // the defect was really re-created
  writeFileSync(templateFile(dir), JSON.stringify(template));
  return dir;
}

function dropActions(template: Template, role: RegExp, drop: (action: string, st: Statement) => boolean): number {
  let removed = 0;
  for (const resource of Object.values(template.Resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const roles = (resource.Properties.Roles ?? []).map((r: { Ref?: string }) => r.Ref ?? '');
    if (!roles.some((r: string) => role.test(r))) continue;
    const doc = resource.Properties.PolicyDocument;
    doc.Statement = doc.Statement.flatMap((st: Statement) => {
      const kept = actions(st).filter((a) => !drop(a, st));
      removed += actions(st).length - kept.length;
      return kept.length ? [{ ...st, Action: kept.length === 1 ? kept[0] : kept }] : [];
    });
  }
  return removed;
}

const runtimes: LocalRuntime[] = [];
async function deployed(assemblyDir: string, name: string): Promise<LocalRuntime> {
  const runtime = await LocalRuntime.create({ projectRoot, root: path.join(work, name, 'root'), assemblyDir });
  runtimes.push(runtime);
  return runtime;
}

beforeAll(() => {
  rmSync(work, { recursive: true, force: true });
  const artifacts = packageArtifacts(projectRoot, 'host');
  synthesize({ projectRoot, outdir: assembly, context: { artifactsDir: artifacts.dir } });
});

afterAll(async () => {
  for (const runtime of runtimes) await runtime.close();
});

describe('D1: the artifacts custom resource without s3:ListBucket', () => {
  it('fails the first local deploy with the 403 S3 answers for a key that does not exist yet', async () => {
    const dir = mutatedAssembly('d1', (t) => dropActions(t, /^JobArtifactsRole/, (a) => a === 's3:ListBucket'));
    await expect(LocalRuntime.create({ projectRoot, root: path.join(work, 'd1', 'root'), assemblyDir: dir })).rejects.toThrow(
      /JobArtifacts\w* \(Custom::JobArtifacts\) CREATE_FAILED: HeadObject s3:\/\/storage-artifacts\/artifacts\/\S+: AccessDenied \(HTTP 403\)/,
    );
  });

  it('deploys with the template as synthesized: Create publishes the manifest, a second deploy changes nothing, teardown deletes', async () => {
    const runtime = await deployed(assembly, 'd1-fixed');
    expect(runtime.deployer.outcomes.map((o) => [o.type, o.requestType])).toEqual([['Custom::JobArtifacts', 'Create']]);
    const artifactsBucket = runtime.bucketFromEnv('ARTIFACTS_BUCKET');
    const current = runtime.layout.objectPath(artifactsBucket, 'manifests/current.json');
    expect(JSON.parse(readFileSync(current, 'utf8')).artifacts.length).toBeGreaterThan(3);
    const again = await deployed(assembly, 'd1-fixed');
    expect(again.deployer.outcomes.map((o) => o.requestType)).toEqual(['NoChange']);
    const deleted = await again.deployer.teardown();
    expect(deleted.map((o) => o.requestType)).toEqual(['Delete']);
    expect(existsSync(current)).toBe(false); // dev: destroyDataOnDelete → the manifest's objects are removed
  });
});

describe('D2: StartJobRun with Tags without emr-serverless:TagResource', () => {
  it('denies the first Spark step of recommender-training, naming the action', async () => {
    const dir = mutatedAssembly('d2', (t) => dropActions(t, /^RecommenderTrainingRole/, (a) => a === 'emr-serverless:TagResource'));
    const runtime = await deployed(dir, 'd2');
    const execution = await runtime.run('recommender-training', { rank: 4, maxIter: 2 }, { executionName: 'd2' });
    expect(execution.status).toBe('FAILED');
    const denied = execution.steps.find((s) => s.error === 'EMRServerless.AccessDeniedException');
    expect(execution.steps.some((s) => s.name.startsWith('Run ') && s.status !== 'succeeded')).toBe(true);
    expect(execution.steps.some((s) => s.name.startsWith('Run ') && s.status === 'succeeded')).toBe(false);
    expect(denied?.cause).toMatch(/is not authorized to perform: emr-serverless:TagResource on resource: "arn:aws:emr-serverless:us-east-1:000000000000:\/applications\/\w+\/jobruns\/new-job-run"/);
  });
});

describe('D3: news-enrichment state write denied', () => {
  it('fails the job at its sink commit (which carries the processing state) with AccessDenied naming s3:PutObject; nothing is committed', async () => {
    // the review's defect: the job may write gold's data but not where its state goes — now the sink's commit files
    const dir = mutatedAssembly('d3', (t) => {
      const policy = Object.values(t.Resources).find((r) => r.Type === 'AWS::IAM::Policy' && (r.Properties.Roles ?? []).some((x: { Ref?: string }) => /^JobRole/.test(x.Ref ?? '')))!;
      policy.Properties.PolicyDocument.Statement.push({ Effect: 'Deny', Action: 's3:PutObject', Resource: 'arn:aws:s3:::storage-lake/gold/news/articles/_delta_log/*' });
      return 1;
    });
    const runtime = await deployed(dir, 'd3');
    const lake = runtime.bucketFromEnv('LAKE_BUCKET');
    const articles = readFileSync(path.join(projectRoot, 'data', 'sample', 'news', 'articles.jsonl'), 'utf8').split('\n').slice(0, 6).join('\n');
    writeFileSync(path.join(work, 'd3', 'articles.jsonl'), articles);
    // the source as a Delta table, uploaded as the operator: data files first, the commit last
    await expect(seedNewsTable(runtime, lake, 'bronze/news/articles', path.join(work, 'd3', 'articles.jsonl'))).resolves.toBe(0);
    expect(existsSync(runtime.layout.objectPath(lake, 'bronze/news/articles/_delta_log/00000000000000000000.json'))).toBe(true);
    const execution = await runtime.run('news-enrichment', {}, { executionName: 'd3' });
    expect(execution.status).toBe('FAILED');
    expect(failureMessage(execution)).toMatch(/States.TaskFailed: Job failed/);
    // StateDetails keeps the last exception lines (as on EMR); the driver log has the denial itself
    const job = execution.steps.find((s) => s.name === 'Run ml-processing')!;
    expect(readFileSync(job.logFile!, 'utf8')).toMatch(/AccessDenied.*not authorized to perform: s3:PutObject on resource: "arn:aws:s3:::storage-lake\/gold\/news\/articles\/_delta_log\/[^"]*"/);
    // no version of gold without its state: the sink has no commit, so the next check still finds the articles pending
    expect(existsSync(runtime.layout.objectPath(lake, 'gold/news/articles/_delta_log/00000000000000000000.json'))).toBe(false);
  });
});

describe('D4: the smoke test', () => {
  const runId = 'ci-1';
  const upload = async (runtime: LocalRuntime) => {
    const lake = runtime.bucketFromEnv('LAKE_BUCKET');
    const prefix = recommenderKeys(smokeInput(runId).namespace).lake.raw;
    for (const name of ['train.txt', 'test.txt', 'future.txt']) await runtime.putObjectAsOperator(lake, `${prefix}${name}`, readFileSync(path.join(sample, name)));
  };

  it('fails with AccessDenied when the job role may not read its namespace', async () => {
    const dir = mutatedAssembly('d4', (t) => dropActions(t, /^JobRole/, (_a, st) => JSON.stringify(st.Resource ?? '').includes('smoke')));
    const runtime = await deployed(dir, 'd4');
    await upload(runtime);
    const execution = await runtime.run('recommender-training', smokeInput(runId), { executionName: `smoke-${runId}` });
    expect(execution.status).toBe('FAILED');
    expect(failureMessage(execution)).toMatch(/AccessDenied|not authorized to perform: s3:(GetObject|ListBucket)/);
  });

  it('passes under the synthesized IAM and touches neither the stage datasets nor its promoted model', async () => {
    const runtime = await deployed(assembly, 'd4-fixed');
    await upload(runtime);
    const execution = await runtime.run('recommender-training', { ...smokeInput(runId), rank: 4, maxIter: 3 } as Record<string, unknown>, { executionName: `smoke-${runId}` });
    expect(failureMessage(execution)).toBeUndefined();
    expect(execution.steps.at(-1)?.name).toBe('Model promoted');
    const lake = runtime.bucketFromEnv('LAKE_BUCKET');
    const models = runtime.bucketFromEnv('MODELS_BUCKET');
    expect(existsSync(runtime.layout.objectPath(models, `smoke/${runId}/recommender/current.json`))).toBe(true);
    expect(existsSync(runtime.layout.objectPath(models, 'recommender/current.json'))).toBe(false);
    expect(existsSync(runtime.layout.objectPath(lake, 'silver'))).toBe(false);
    expect(existsSync(runtime.layout.objectPath(lake, `smoke/${runId}/silver`))).toBe(true);
    // every principal's calls were authorized; the report names who did what
    const report = runtime.accessReport();
    expect(report.principals.some((p) => p.used.some((u) => u.action === 'emr-serverless:TagResource' && u.allowed > 0))).toBe(true);
  });
});

