import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseStageConfig } from '../lib/config/stage-config';
import { planEnvironmentFor } from '../lib/pipelines/common';
import { plan as recommenderPlan, inputSchema as recommenderInput } from '../lib/pipelines/recommender-training';
import { smokeCommand } from '../cli/commands/smoke';
import { CliContext } from '../cli/context';
import { cli, NOW, resetMocks, s3, sfn, smArn } from './cli-harness';

const EXEC = 'arn:aws:states:us-east-1:123456789012:execution:dev-recommender-training:smoke-b1';

function sampleRepo(files: Record<string, string>): string {
  const cwd = mkdtempSync(join(tmpdir(), 'emrpipe-smoke-'));
  mkdirSync(join(cwd, 'data', 'sample', 'netflix'), { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(cwd, 'data', 'sample', 'netflix', name), text);
  return cwd;
}

beforeEach(() => {
  resetMocks();
  s3.on(PutObjectCommand).resolves({});
  sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC, startDate: new Date() });
  sfn.on(GetExecutionHistoryCommand).resolves({ events: [] });
});

test('uploads the sample into the run\'s namespace smoke/<run>/ and runs recommender-training in that namespace', async () => {
  sfn.on(DescribeExecutionCommand).resolves({ executionArn: EXEC, status: 'SUCCEEDED', name: 'smoke-b1' } as never);
  const cwd = sampleRepo({ 'train_1.txt': '1:\n1,3,2005-09-06\n', 'test_1.txt': '1:\n2,4,2005-09-07\n', 'future.txt': '1:\n3\n', 'README.md': 'x' });
  const r = await cli(['smoke', '--run-id', 'b1'], cwd);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const puts = s3.commandCalls(PutObjectCommand).map((c) => `${c.args[0].input.Bucket}/${c.args[0].input.Key}`);
  expect(puts).toEqual([
    'dev-lake-bucket/smoke/b1/bronze/netflix/raw/future.txt',
    'dev-lake-bucket/smoke/b1/bronze/netflix/raw/test_1.txt',
    'dev-lake-bucket/smoke/b1/bronze/netflix/raw/train_1.txt',
  ]);
  const start = sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input;
  expect(start.stateMachineArn).toBe(smArn('recommender-training'));
  expect(start.name).toBe('smoke-b1');
  expect(JSON.parse(start.input!)).toEqual({ namespace: 'smoke/b1' });
  expect(r.out.at(-1)).toBe('Smoke test passed: recommender-training SUCCEEDED on the bundled sample.');
});

test('the plan of the smoke input reads exactly what the smoke test uploaded (one file per input glob)', async () => {
  sfn.on(DescribeExecutionCommand).resolves({ executionArn: EXEC, status: 'SUCCEEDED', name: 'smoke-b3' } as never);
  const r = await cli(['smoke', '--run-id', 'b3', '--sample-dir', join(__dirname, '..', 'data', 'sample', 'netflix')]);
  expect(r.code).toBe(0);
  const uploaded = s3.commandCalls(PutObjectCommand).map((c) => `s3://${c.args[0].input.Bucket}/${c.args[0].input.Key}`);
  const input = JSON.parse(sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input.input!);
  const env = planEnvironmentFor(parseStageConfig('dev', {}), { lakeBucket: 'dev-lake-bucket', modelsBucket: 'dev-models-bucket' });
  const plan = recommenderPlan(input, env, { name: 'smoke-b3', stateMachine: 'emr-ml-dev-recommender-training' });
  const inputs = [plan.steps.etlTrain.args.input, plan.steps.etlTest.args.input, plan.steps.createFutures.args.input] as string[];
  const matches = (glob: string) => uploaded.filter((u) => u.startsWith(glob.slice(0, glob.indexOf('*'))));
  expect(inputs.map((glob) => [glob, matches(glob).length])).toEqual(inputs.map((glob) => [glob, 1]));
  // (every output of that plan is inside the namespace: test/cdk-platform.test.ts "smoke runs")
});

test('fails (exit 1) when the execution does not succeed', async () => {
  sfn.on(DescribeExecutionCommand).resolves({ executionArn: EXEC, status: 'FAILED', name: 'smoke-b1', error: 'ValidationError', cause: 'input.trainInput' } as never);
  const r = await cli(['smoke', '--run-id', 'b1'], sampleRepo({ 'train.txt': 'a', 'test.txt': 'b', 'future.txt': 'c' }));
  expect(r.code).toBe(1);
  expect(r.stderr).toBe('emrpipe: Smoke test failed: recommender-training ended FAILED (ValidationError: input.trainInput).');
});

test('a sample directory without train/test/future files is a usage error', async () => {
  const r = await cli(['smoke'], sampleRepo({ 'notes.txt': 'x', 'train.txt': 'a' }));
  expect(r.code).toBe(2);
  expect(r.stderr).toBe('emrpipe: The sample directory data/sample/netflix needs train*, test* and future* files (found: notes.txt, train.txt).');
  expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
});

test('a run id that cannot name a namespace is a usage error, before anything is uploaded', async () => {
  const r = await cli(['smoke', '--run-id', 'Build/7'], sampleRepo({ 'train.txt': 'a', 'test.txt': 'b', 'future.txt': 'c' }));
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/^emrpipe: --run-id Build\/7: must be 1-63 lower-case letters, digits and -/);
  expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
});

test('the bundled sample (data/sample/netflix) is what the smoke test uploads: train, test and future files only', async () => {
  sfn.on(DescribeExecutionCommand).resolves({ executionArn: EXEC, status: 'SUCCEEDED', name: 'smoke-b2' } as never);
  const r = await cli(['smoke', '--run-id', 'b2', '--sample-dir', join(__dirname, '..', 'data', 'sample', 'netflix')]);
  expect(r.code).toBe(0);
  expect(s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Key)).toEqual([
    'smoke/b2/bronze/netflix/raw/future.txt',
    'smoke/b2/bronze/netflix/raw/test.txt',
    'smoke/b2/bronze/netflix/raw/train.txt',
  ]);
  // the execution input is valid for the deployed state machine's input schema
  const input = JSON.parse(sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input.input!);
  expect(recommenderInput.safeParse(input).success).toBe(true);
});

test('smoke --local: the operator uploads the sample into the namespace, then the same execution runs locally', async () => {
  const cwd = sampleRepo({ 'train.txt': '1:\n1,3,2005-09-06\n', 'test.txt': '1:\n2,4,2005-09-07\n', 'future.txt': '1:\n3\n' });
  const out: string[] = [];
  const ctx = new CliContext({ stage: 'dev', local: true }, { out: (s: string) => out.push(s), err: () => undefined, sleep: async () => undefined, now: () => NOW, cwd });
  const requests: Array<Record<string, unknown>> = [];
  const code = await smokeCommand(ctx, { sampleDir: 'data/sample/netflix', runId: 'l1' }, async (request) => {
    requests.push({ pipeline: request.pipeline, input: request.input, executionName: request.executionName, uploads: request.uploads?.map((u) => u.key) });
    return { status: 'SUCCEEDED', executionName: request.executionName };
  });
  expect(code).toBe(0);
  expect(requests).toEqual([{
    pipeline: 'recommender-training',
    input: { namespace: 'smoke/l1' },
    executionName: 'smoke-l1',
    uploads: ['smoke/l1/bronze/netflix/raw/future.txt', 'smoke/l1/bronze/netflix/raw/test.txt', 'smoke/l1/bronze/netflix/raw/train.txt'],
  }]);
  expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0); // nothing went to a deployed stage
  expect(out.at(-1)).toBe('Smoke test passed: recommender-training SUCCEEDED on the bundled sample (local).');
});
