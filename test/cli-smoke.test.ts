import { PutObjectCommand } from '@aws-sdk/client-s3';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inputSchema as recommenderInput } from '../lib/pipelines/recommender-training';
import { cli, resetMocks, s3, sfn, smArn } from './cli-harness';

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

test('uploads the sample under smoke/<run>/, runs recommender-training on it and passes on SUCCEEDED', async () => {
  sfn.on(DescribeExecutionCommand).resolves({ executionArn: EXEC, status: 'SUCCEEDED', name: 'smoke-b1' } as never);
  const cwd = sampleRepo({ 'train_1.txt': '1:\n1,3,2005-09-06\n', 'test_1.txt': '1:\n2,4,2005-09-07\n', 'future.txt': '1:\n3\n', 'README.md': 'x' });
  const r = await cli(['smoke', '--run-id', 'b1'], cwd);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const puts = s3.commandCalls(PutObjectCommand).map((c) => `${c.args[0].input.Bucket}/${c.args[0].input.Key}`);
  expect(puts).toEqual([
    'dev-lake-bucket/smoke/b1/netflix/raw/train_1.txt',
    'dev-lake-bucket/smoke/b1/netflix/raw/test_1.txt',
    'dev-lake-bucket/smoke/b1/netflix/raw/future.txt',
  ]);
  const start = sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input;
  expect(start.stateMachineArn).toBe(smArn('recommender-training'));
  expect(start.name).toBe('smoke-b1');
  expect(JSON.parse(start.input!)).toEqual({
    trainInput: ['s3://dev-lake-bucket/smoke/b1/netflix/raw/train_1.txt'],
    testInput: ['s3://dev-lake-bucket/smoke/b1/netflix/raw/test_1.txt'],
    futuresInput: ['s3://dev-lake-bucket/smoke/b1/netflix/raw/future.txt'],
    pointerUri: 's3://dev-models-bucket/smoke/b1/current.json',
  });
  expect(r.out.at(-1)).toBe('Smoke test passed: recommender-training SUCCEEDED on the bundled sample.');
});

test('fails (exit 1) when the execution does not succeed', async () => {
  sfn.on(DescribeExecutionCommand).resolves({ executionArn: EXEC, status: 'FAILED', name: 'smoke-b1', error: 'ValidationError', cause: 'input.trainInput' } as never);
  const r = await cli(['smoke', '--run-id', 'b1'], sampleRepo({ 'train.txt': 'a', 'test.txt': 'b' }));
  expect(r.code).toBe(1);
  expect(r.stderr).toBe('emrpipe: Smoke test failed: recommender-training ended FAILED (ValidationError: input.trainInput).');
});

test('a sample directory without train/test files is a usage error', async () => {
  const r = await cli(['smoke'], sampleRepo({ 'notes.txt': 'x' }));
  expect(r.code).toBe(2);
  expect(r.stderr).toBe('emrpipe: The sample directory data/sample/netflix needs train* and test* files (found: notes.txt).');
  expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
});

test('the bundled sample (data/sample/netflix) is what the smoke test uploads: train, test and future files only', async () => {
  sfn.on(DescribeExecutionCommand).resolves({ executionArn: EXEC, status: 'SUCCEEDED', name: 'smoke-b2' } as never);
  const r = await cli(['smoke', '--run-id', 'b2', '--sample-dir', join(__dirname, '..', 'data', 'sample', 'netflix')]);
  expect(r.code).toBe(0);
  expect(s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Key)).toEqual([
    'smoke/b2/netflix/raw/train.txt',
    'smoke/b2/netflix/raw/test.txt',
    'smoke/b2/netflix/raw/future.txt',
  ]);
  // the execution input is valid for the deployed state machine's input schema
  const input = JSON.parse(sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input.input!);
  expect(recommenderInput.safeParse(input).success).toBe(true);
});
