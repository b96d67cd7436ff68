import { DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, StartExecutionCommand, type HistoryEvent } from '@aws-sdk/client-sfn';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLocalPipeline } from '../cli/local';
import { CliContext } from '../cli/context';
import { GetApplicationCommand, GetJobRunCommand } from '@aws-sdk/client-emr-serverless';
import { cfn, cli, emr, resetMocks, sfn, smArn } from './cli-harness';

const EXEC = 'arn:aws:states:us-east-1:123456789012:execution:dev-recommender-training:run-1';
const t = (s: number) => new Date(Date.UTC(2026, 10, 21, 12, 0, s));
const entered = (id: number, name: string, s: number): HistoryEvent => ({ id, type: 'TaskStateEntered', timestamp: t(s), stateEnteredEventDetails: { name } });
const exited = (id: number, name: string, s: number): HistoryEvent => ({ id, type: 'TaskStateExited', timestamp: t(s), stateExitedEventDetails: { name } });

beforeEach(resetMocks);

function inputFile(content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'emrpipe-run-'));
  writeFileSync(join(dir, 'input.json'), content);
  return dir;
}

test('run --wait starts the state machine with the input file and streams each transition once', async () => {
  sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC, startDate: t(0) });
  sfn
    .on(DescribeExecutionCommand)
    .resolvesOnce({ executionArn: EXEC, status: 'RUNNING', name: 'run-1' } as never)
    .resolves({
      executionArn: EXEC,
      status: 'SUCCEEDED',
      name: 'run-1',
      output: JSON.stringify({ costs: { etl: { costUsd: 0.0123, vCPUHour: 0.2 }, train: { costUsd: 0.5, vCPUHour: 8 } } }),
    } as never);
  sfn
    .on(GetExecutionHistoryCommand)
    .resolvesOnce({ events: [{ id: 1, type: 'ExecutionStarted', timestamp: t(0) }, entered(2, 'ValidateInput', 0), exited(3, 'ValidateInput', 1), entered(4, 'ETL', 1)] })
    .resolves({
      events: [
        { id: 1, type: 'ExecutionStarted', timestamp: t(0) },
        entered(2, 'ValidateInput', 0),
        exited(3, 'ValidateInput', 1),
        entered(4, 'ETL', 1),
        exited(5, 'ETL', 13),
        { id: 6, type: 'ExecutionSucceeded', timestamp: t(14) },
      ],
    });
  const cwd = inputFile('{"rank": 8, "k": 5}');
  const r = await cli(['run', 'recommender-training', '--input', 'input.json', '--wait'], cwd);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const start = sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input;
  expect(start.stateMachineArn).toBe(smArn('recommender-training'));
  expect(JSON.parse(start.input!)).toEqual({ rank: 8, k: 5 });
  expect(r.out).toEqual([
    `Started recommender-training in stage dev: ${EXEC}`,
    '→ ValidateInput',
    '✓ ValidateInput (1.0s)',
    '→ ETL',
    '✓ ETL (12.0s)',
    '✓ execution succeeded',
    '  cost etl: $0.0123 (0.200 vCPU-h)',
    '  cost train: $0.5000 (8.000 vCPU-h)',
    'Cost of this execution: $0.5123 across 2 job runs.',
    'Execution run-1 SUCCEEDED.',
  ]);
  expect(cfn.commandCalls(DescribeStacksCommand).map((c) => c.args[0].input.StackName)).toEqual(['emr-ml-dev']);
});

test('without costs in the output, the job runs of the execution are priced from GetJobRun (also when it failed)', async () => {
  sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC, startDate: t(0) });
  sfn.on(DescribeExecutionCommand).resolves({ executionArn: EXEC, status: 'FAILED', name: 'run-1', error: 'States.TaskFailed', cause: 'train failed' } as never);
  const sync = { resourceType: 'emr-serverless', resource: 'startJobRun.sync' };
  sfn.on(GetExecutionHistoryCommand).resolves({
    events: [
      entered(1, 'Run etl-train', 0),
      { id: 2, previousEventId: 1, type: 'TaskScheduled', timestamp: t(0) },
      { id: 3, previousEventId: 2, type: 'TaskSucceeded', timestamp: t(30), taskSucceededEventDetails: { ...sync, output: JSON.stringify({ JobRun: { ApplicationId: '00fabc123def', JobRunId: 'jr-a', State: 'SUCCESS' } }) } },
      exited(4, 'Run etl-train', 30),
      entered(5, 'Run train', 31),
      { id: 6, previousEventId: 5, type: 'TaskScheduled', timestamp: t(31) },
      { id: 7, previousEventId: 6, type: 'TaskFailed', timestamp: t(90), taskFailedEventDetails: { ...sync, error: 'States.TaskFailed', cause: JSON.stringify({ ApplicationId: '00fabc123def', JobRunId: 'jr-b', State: 'FAILED' }) } },
    ],
  });
  emr.on(GetApplicationCommand).resolves({ application: { architecture: 'X86_64' } } as never);
  emr.on(GetJobRunCommand, { jobRunId: 'jr-a' }).resolves({ jobRun: { billedResourceUtilization: { vCPUHour: 1, memoryGBHour: 4 } } } as never);
  emr.on(GetJobRunCommand, { jobRunId: 'jr-b' }).resolves({ jobRun: { billedResourceUtilization: { vCPUHour: 0.5, memoryGBHour: 2 } } } as never);
  const r = await cli(['run', 'recommender-training', '--wait']);
  expect(r.code).toBe(1);
  expect(r.out.filter((l) => /cost/i.test(l))).toEqual([
    '  cost Run etl-train: $0.0757 (1.000 vCPU-h, job run jr-a)',
    '  cost Run train: $0.0379 (0.500 vCPU-h, job run jr-b)',
    'Cost of this execution: $0.1136 across 2 job runs.',
  ]);
  expect(r.stderr).toBe('emrpipe: Execution run-1 ended FAILED (States.TaskFailed: train failed).');
});

test('a failed execution prints the failure and exits 1 with a plain sentence', async () => {
  sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC, startDate: t(0) });
  sfn.on(DescribeExecutionCommand).resolves({ executionArn: EXEC, status: 'FAILED', name: 'run-1', error: 'JobRunFailed', cause: 'ETL exited with code 1' } as never);
  sfn.on(GetExecutionHistoryCommand).resolves({
    events: [entered(1, 'ETL', 0), { id: 2, type: 'TaskFailed', timestamp: t(5), taskFailedEventDetails: { resourceType: 'emr-serverless', resource: 'startJobRun.sync', error: 'States.TaskFailed', cause: 'job run FAILED' } }],
  });
  const r = await cli(['run', 'recommender-training', '--wait']);
  expect(r.code).toBe(1);
  expect(r.out).toContain('✗ TaskFailed States.TaskFailed');
  expect(r.stderr).toBe('emrpipe: Execution run-1 ended FAILED (JobRunFailed: ETL exited with code 1).');
  expect(r.stderr).not.toMatch(/\n\s+at /);
});

test('without --wait it prints the execution ARN and returns', async () => {
  sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC, startDate: t(0) });
  const r = await cli(['run', 'drift-retrain', '--name', 'manual-1']);
  expect(r.code).toBe(0);
  expect(sfn.commandCalls(StartExecutionCommand)[0]!.args[0].input).toMatchObject({ stateMachineArn: smArn('drift-retrain'), name: 'manual-1', input: '{}' });
  expect(sfn.commandCalls(DescribeExecutionCommand)).toHaveLength(0);
});

test('an unknown pipeline is a usage error naming the pipelines', async () => {
  const r = await cli(['run', 'recommender']);
  expect(r.code).toBe(2);
  expect(r.stderr).toBe('emrpipe: Unknown pipeline "recommender". Pipelines: recommender-training, drift-retrain, news-enrichment, taxi-medallion.');
  expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
});

test('an input file that is not JSON is rejected before anything starts', async () => {
  const cwd = inputFile('{"rank": 8,');
  const r = await cli(['run', 'recommender-training', '--input', 'input.json'], cwd);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/^emrpipe: The input file input\.json is not valid JSON/);
  const missing = await cli(['run', 'recommender-training', '--input', 'nope.json'], cwd);
  expect(missing.stderr).toBe('emrpipe: Cannot read the input file nope.json: it does not exist or is not readable.');
  const array = await cli(['run', 'recommender-training', '--input', 'input.json'], inputFile('[1, 2]'));
  expect(array.code).toBe(2);
  expect(array.stderr).toBe('emrpipe: The input file input.json must hold a JSON object, like {"rank": 32}.');
  expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
});

test('a stage that is not deployed is named in the error', async () => {
  const notFound = Object.assign(new Error('Stack with id emr-ml-prod does not exist'), { name: 'ValidationError', $metadata: {} });
  cfn.on(DescribeStacksCommand, { StackName: 'emr-ml-prod' }).rejects(notFound);
  const r = await cli(['--stage', 'prod', 'run', 'recommender-training']);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/^emrpipe: Stage "prod" is not deployed: stack emr-ml-prod does not exist/);
});

test('AWS errors become one sentence without a stack trace', async () => {
  sfn.on(StartExecutionCommand).rejects(Object.assign(new Error('User is not authorized to perform: states:StartExecution'), { name: 'AccessDeniedException', $metadata: {} }));
  const r = await cli(['run', 'taxi-medallion']);
  expect(r.code).toBe(1);
  expect(r.stderr).toBe('emrpipe: AWS denied the request: User is not authorized to perform: states:StartExecution');
});

test('run --local hands the pipeline and input to the local runner and streams its steps', async () => {
  const calls: unknown[] = [];
  const out: string[] = [];
  const ctx = new CliContext({ stage: 'dev', local: true }, { out: (s) => out.push(s), err: () => undefined, sleep: async () => undefined, now: () => new Date(), cwd: '/tmp' });
  const step = (status: 'running' | 'succeeded' | 'failed', extra = {}) => ({ name: 'Run etl-train', type: 'Task', status, startedAt: 0, attempts: 1, ...extra });
  const code = await runLocalPipeline(ctx, 'news-enrichment', { source: 'lake' }, { executionName: 'n1' }, async (request) => {
    calls.push({ pipeline: request.pipeline, input: request.input, stage: request.stage, cwd: request.cwd, executionName: request.executionName });
    request.onStep(step('running'));
    request.onStep(step('succeeded', { durationMs: 4200 }));
    return { status: 'SUCCEEDED', executionName: 'n1', output: { costs: { etlTrain: { costUsd: 0, vCPUHour: 0.01 } } } };
  });
  expect(code).toBe(0);
  expect(calls).toEqual([{ pipeline: 'news-enrichment', input: { source: 'lake' }, stage: 'dev', cwd: '/tmp', executionName: 'n1' }]);
  expect(out).toEqual([
    'Running news-enrichment locally (stage dev settings, no AWS)…',
    '→ Run etl-train',
    '✓ Run etl-train (4.2s)',
    '  cost etlTrain: $0.0000 (0.010 vCPU-h)',
    'Cost of this execution: $0.0000 across 1 job runs.',
    'Local execution n1 of news-enrichment SUCCEEDED.',
  ]);
  await expect(
    runLocalPipeline(ctx, 'news-enrichment', {}, {}, async (request) => {
      request.onStep(step('failed', { error: 'JobRunFailed', logFile: '.local/logs/x/03-etl.log' }));
      return { status: 'FAILED', error: 'JobRunFailed', cause: 'exit 1' };
    }),
  ).rejects.toThrow('Local execution of news-enrichment ended FAILED (JobRunFailed: exit 1).');
  expect(out.at(-1)).toBe('✗ Run etl-train JobRunFailed (log: .local/logs/x/03-etl.log)');
});

/** A failed Lambda task's cause as Step Functions records it: the function's error envelope with its trace. */
const ENVELOPE = JSON.stringify({
  errorType: 'ValidationError',
  errorMessage: 'input.rank: Too small: expected number to be >=1',
  trace: ['ValidationError: input.rank: Too small: expected number to be >=1', '    at parseEvent (/var/task/index.js:12:11)', '    at Runtime.handler (/var/task/index.js:40:3)'],
});
/** A failed `.sync` job run's cause: the job run, whose StateDetails is the sentence. */
const JOB_RUN_CAUSE = JSON.stringify({ ApplicationId: '00fabc123def', JobRunId: 'jr-9', State: 'FAILED', StateDetails: 'Job failed, exit code 1: ValueError: no ratings in input' });

describe('errors are shown once, as a sentence (the trace stays in the log)', () => {
  const occurrences = (text: string, part: string) => text.split(part).length - 1;

  test('run --wait: a Lambda failure prints `Error: errorMessage` once, never the envelope or its trace', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC, startDate: t(0) });
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: EXEC, status: 'FAILED', name: 'run-1', error: 'ValidationError', cause: ENVELOPE } as never);
    sfn.on(GetExecutionHistoryCommand).resolves({
      events: [
        entered(1, 'Validate input', 0),
        { id: 2, type: 'LambdaFunctionFailed', timestamp: t(1), lambdaFunctionFailedEventDetails: { error: 'ValidationError', cause: ENVELOPE } },
        { id: 3, type: 'TaskFailed', timestamp: t(1), taskFailedEventDetails: { resourceType: 'lambda', resource: 'invoke', error: 'ValidationError', cause: ENVELOPE } },
        { id: 4, type: 'ExecutionFailed', timestamp: t(2), executionFailedEventDetails: { error: 'ValidationError', cause: ENVELOPE } },
      ],
    });
    const r = await cli(['run', 'recommender-training', '--wait']);
    expect(r.code).toBe(1);
    expect(r.out).toEqual(['Started recommender-training in stage dev: ' + EXEC, '→ Validate input', '✗ LambdaFunctionFailed ValidationError', '✗ TaskFailed ValidationError', '✗ ExecutionFailed ValidationError']);
    expect(r.stderr).toBe('emrpipe: Execution run-1 ended FAILED (ValidationError: input.rank: Too small: expected number to be >=1).');
    const all = `${r.stdout}\n${r.stderr}`;
    expect(occurrences(all, 'Too small')).toBe(1);
    expect(all).not.toMatch(/errorType|trace|\bat parseEvent/);
  });

  test('a failed job run: the StateDetails sentence, not the job run JSON', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXEC, startDate: t(0) });
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: EXEC, status: 'FAILED', name: 'run-1', error: 'States.TaskFailed', cause: JOB_RUN_CAUSE } as never);
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [entered(1, 'Run etl-train', 0)] });
    const r = await cli(['run', 'recommender-training', '--wait']);
    expect(r.stderr).toBe('emrpipe: Execution run-1 ended FAILED (States.TaskFailed: Job failed, exit code 1: ValueError: no ratings in input).');
    expect(r.stderr).not.toContain('JobRunId');
  });

  test('run --local: the failed step names its error and log file, the sentence comes once at the end', async () => {
    const out: string[] = [];
    const ctx = new CliContext({ stage: 'dev', local: true }, { out: (s) => out.push(s), err: () => undefined, sleep: async () => undefined, now: () => new Date(), cwd: '/tmp' });
    const failed = { type: 'Task', status: 'failed' as const, startedAt: 0, attempts: 1, durationMs: 100, error: 'ValidationError', cause: ENVELOPE };
    const error = await runLocalPipeline(ctx, 'recommender-training', { rank: 0 }, {}, async (request) => {
      request.onStep({ ...failed, name: 'Validate input', logFile: '.local/logs/x/01-validate-input.log' });
      request.onStep({ ...failed, name: 'Pipeline failed', type: 'Fail' });
      return { status: 'FAILED', error: 'ValidationError', cause: ENVELOPE };
    }).catch((e: Error) => e);
    expect(out.slice(1)).toEqual(['✗ Validate input ValidationError (log: .local/logs/x/01-validate-input.log)', '✗ Pipeline failed ValidationError']);
    expect((error as Error).message).toBe('Local execution of recommender-training ended FAILED (ValidationError: input.rank: Too small: expected number to be >=1).');
    expect(occurrences(`${out.join('\n')}\n${(error as Error).message}`, 'Too small')).toBe(1);
  });
});
