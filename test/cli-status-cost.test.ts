import { GetApplicationCommand, GetJobRunCommand, ListJobRunAttemptsCommand, ListJobRunsCommand } from '@aws-sdk/client-emr-serverless';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, ListExecutionsCommand } from '@aws-sdk/client-sfn';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cost } from '../lib/cost/cost';
import { cli, emr, NOW, resetMocks, sfn, smArn } from './cli-harness';

const APP = '00fabc123def';
const EXEC = 'arn:aws:states:us-east-1:123456789012:execution:dev-drift-retrain:daily-1';

beforeEach(() => {
  resetMocks();
  emr.on(GetApplicationCommand).resolves({ application: { applicationId: APP, architecture: 'ARM64' } } as never);
});

describe('cost', () => {
  const summary = (id: string, state: string, minutesAgo: number) => ({ id, applicationId: APP, name: `dev-recommender-training-r1-${id}`, state, createdAt: new Date(NOW.getTime() - minutesAgo * 60000) });

  test('prices every finished job run since the cutoff (architecture from the application) and totals them', async () => {
    emr.on(ListJobRunsCommand).resolvesOnce({ jobRuns: [summary('jr2', 'SUCCESS', 30), summary('jr3', 'RUNNING', 5)], nextToken: 'p2' } as never).resolves({ jobRuns: [summary('jr1', 'FAILED', 90)] } as never);
    const tags = { stateMachine: 'emr-ml-dev-recommender-training', execution: 'nightly-1' };
    emr.on(GetJobRunCommand, { jobRunId: 'jr1' }).resolves({ jobRun: { name: 'etl', state: 'FAILED', tags, billedResourceUtilization: { vCPUHour: 1, memoryGBHour: 4, storageGBHour: 0 } } } as never);
    emr.on(GetJobRunCommand, { jobRunId: 'jr2' }).resolves({ jobRun: { name: 'train', state: 'SUCCESS', tags, billedResourceUtilization: { vCPUHour: 10, memoryGBHour: 40, storageGBHour: 100 } } } as never);
    const r = await cli(['cost', '--since', '2d', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const list = emr.commandCalls(ListJobRunsCommand);
    expect(list[0]!.args[0].input.createdAtAfter).toEqual(new Date('2026-11-19T12:00:00Z'));
    expect(list[1]!.args[0].input.nextToken).toBe('p2');
    expect(emr.commandCalls(GetJobRunCommand).map((c) => c.args[0].input.jobRunId)).toEqual(['jr1', 'jr2']); // running jr3 not priced
    const report = JSON.parse(r.stdout);
    expect(report.runs.map((x: { run: string; name: string }) => [x.run, x.name])).toEqual([['jr1', 'etl'], ['jr2', 'train']]);
    // ARM64 us-east-1: 0.0420992 / vCPU-h, 0.0046228 / GB-h, 0.000111 / storage GB-h
    expect(report.runs[0].costUsd).toBeCloseTo(0.0420992 + 4 * 0.0046228, 6);
    expect(report.runs[1].costUsd).toBeCloseTo(10 * 0.0420992 + 40 * 0.0046228 + 100 * 0.000111, 6);
    expect(report.total).toMatchObject({ runs: 2, vCPUHour: 11, memoryGBHour: 44, storageGBHour: 100 });
    expect(report.total.costUsd).toBeCloseTo(report.runs[0].costUsd + report.runs[1].costUsd, 6);
    expect(report.executions).toEqual([{ execution: 'emr-ml-dev-recommender-training/nightly-1', runs: 2, costUsd: report.total.costUsd }]);
  });

  test('prints a table with a total line', async () => {
    emr.on(ListJobRunsCommand).resolves({ jobRuns: [summary('jr1', 'SUCCESS', 10)] } as never);
    emr.on(GetJobRunCommand).resolves({ jobRun: { name: 'etl', state: 'SUCCESS', billedResourceUtilization: { vCPUHour: 2, memoryGBHour: 8 } } } as never);
    const r = await cli(['cost']);
    expect(r.out[0]).toBe('EMR Serverless job runs of stage dev in the last 7d (us-east-1, ARM64, on-demand prices):');
    expect(r.out[1]).toMatch(/^run\s+name\s+state\s+created\s+vCPU-h\s+GB-h\s+storage GB-h\s+cost$/);
    expect(r.out[2]).toMatch(/^jr1\s+etl\s+SUCCESS\s+2026-11-21 11:50\s+2\.000\s+8\.000\s+0\.000\s+\$0\.1212$/);
    expect(r.out[3]).toMatch(/^total\s+1 runs\s+2\.000\s+8\.000\s+0\.000\s+\$0\.1212$/);
    expect(r.out).toHaveLength(4); // untagged runs: no per-execution section
  });

  test('the table ends with the cost of each pipeline execution, most expensive first', async () => {
    emr.on(ListJobRunsCommand).resolves({ jobRuns: [summary('a1', 'SUCCESS', 20), summary('a2', 'SUCCESS', 19), summary('b1', 'SUCCESS', 10)] } as never);
    const run = (execution: string, vCPUHour: number) => ({ jobRun: { name: 'x', state: 'SUCCESS', tags: { stateMachine: 'emr-ml-dev-drift-retrain', execution }, billedResourceUtilization: { vCPUHour } } });
    emr.on(GetJobRunCommand, { jobRunId: 'a1' }).resolves(run('daily-1', 1) as never);
    emr.on(GetJobRunCommand, { jobRunId: 'a2' }).resolves(run('daily-1', 1) as never);
    emr.on(GetJobRunCommand, { jobRunId: 'b1' }).resolves(run('daily-2', 10) as never);
    const r = await cli(['cost']);
    expect(r.out.slice(-3)).toEqual([
      'By execution:',
      '  emr-ml-dev-drift-retrain/daily-2    1 runs  $0.4210',
      '  emr-ml-dev-drift-retrain/daily-1    2 runs  $0.0842',
    ]);
  });

  test('--local sums the resources recorded in local job results (priced as EMR Serverless would bill them)', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'emrpipe-cost-'));
    const dir = join(cwd, '.local', 's3', 'local-lake', 'runs', 'recommender-training', 'demo-1');
    mkdirSync(dir, { recursive: true });
    // what record-job-cost writes for a local run: its GetJobRun billed use (one local[2] worker, 2 GB) priced
    const res = (job: string, seconds: number) => ({
      job, status: 'SUCCEEDED', startedAt: '2026-11-21T11:00:00Z',
      resources: cost({ vCPUHour: (2 * seconds) / 3600, memoryGBHour: (2 * seconds) / 3600, storageGBHour: 0 }, 'us-east-1', 'X86_64', { wallSeconds: seconds }),
    });
    writeFileSync(join(dir, 'etl.json'), JSON.stringify(res('etl', 60)));
    writeFileSync(join(dir, 'train.json'), JSON.stringify(res('train', 120)));
    writeFileSync(join(dir, 'no-resources.json'), JSON.stringify({ job: 'x' }));
    const r = await cli(['--local', 'cost', '--since', '1d', '--json'], cwd);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.runs.map((x: { run: string }) => x.run).sort()).toEqual(['recommender-training/demo-1/etl', 'recommender-training/demo-1/train']);
    expect(report.total.vCPUHour).toBeCloseTo(0.1, 10); // 2 vCPU × (60 + 120) s
    expect(report.total.memoryGBHour).toBeCloseTo(0.1, 10);
    expect(report.total.costUsd).toBeCloseTo(0.1 * 0.052624 + 0.1 * 0.0057785, 6); // $0.00584
    expect(report.executions).toEqual([{ execution: 'recommender-training/demo-1', runs: 2, costUsd: report.total.costUsd }]);
  });

  test('a bad --since is a usage error', async () => {
    const r = await cli(['cost', '--since', 'yesterday']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('emrpipe: --since must be a duration like 30m, 12h, 7d or 2w, got "yesterday".');
  });
});

describe('status --local', () => {
  test('lists local executions newest first and shows one with its steps', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'emrpipe-status-'));
    const dir = join(cwd, '.local', 'executions', 'emr-ml-dev-news-enrichment');
    mkdirSync(dir, { recursive: true });
    const record = (name: string, startedAt: string, status: string, steps: unknown[] = []) =>
      writeFileSync(join(dir, `${name}.json`), JSON.stringify({ stateMachine: 'emr-ml-dev-news-enrichment', executionName: name, status, startedAt: Date.parse(startedAt), durationMs: 65000, steps }));
    record('n1', '2026-11-21T10:00:00Z', 'SUCCEEDED');
    record('n2', '2026-11-21T11:00:00Z', 'FAILED', [
      { name: 'Validate input', status: 'succeeded', durationMs: 300 },
      { name: 'Run ml-processing', status: 'failed', durationMs: 60000, error: 'States.TaskFailed', logFile: '.local/logs/n2/03-run-ml-processing.log' },
    ]);
    const list = await cli(['--local', 'status'], cwd);
    expect(list.out).toEqual([
      'FAILED    2026-11-21 11:00:00  emr-ml-dev-news-enrichment/n2 in 1m05s',
      'SUCCEEDED 2026-11-21 10:00:00  emr-ml-dev-news-enrichment/n1 in 1m05s',
    ]);
    const one = await cli(['--local', 'status', 'n2'], cwd);
    expect(one.out).toEqual([
      'Local execution emr-ml-dev-news-enrichment/n2: FAILED in 1m05s',
      '  succeeded Validate input in 0.3s',
      '  failed    Run ml-processing in 1m00s States.TaskFailed  (.local/logs/n2/03-run-ml-processing.log)',
    ]);
    const missing = await cli(['--local', 'status', 'n9'], cwd);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('emrpipe: No local execution named "n9" under .local/executions/.');
  });

  test("a failed execution's error is one sentence (the Lambda's errorMessage), not its envelope and trace", async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'emrpipe-status-'));
    const dir = join(cwd, '.local', 'executions', 'emr-ml-dev-recommender-training');
    mkdirSync(dir, { recursive: true });
    const cause = JSON.stringify({ errorType: 'ValidationError', errorMessage: 'input.rank: Too small: expected number to be >=1', trace: ['ValidationError: input.rank', '    at parseEvent (index.js:1:1)'] });
    writeFileSync(join(dir, 'r1.json'), JSON.stringify({ stateMachine: 'emr-ml-dev-recommender-training', executionName: 'r1', status: 'FAILED', startedAt: Date.parse('2026-11-21T11:00:00Z'), durationMs: 1000, error: 'ValidationError', cause,
      steps: [{ name: 'Validate input', status: 'failed', durationMs: 100, error: 'ValidationError', logFile: '.local/logs/r1/01-validate-input.log' }] }));
    const one = await cli(['--local', 'status', 'r1'], cwd);
    expect(one.out).toEqual([
      'Local execution emr-ml-dev-recommender-training/r1: FAILED in 1.0s',
      '  error: ValidationError: input.rank: Too small: expected number to be >=1',
      '  failed    Validate input in 0.1s ValidationError  (.local/logs/r1/01-validate-input.log)',
    ]);
  });
});

describe('status', () => {
  test('an execution ARN shows its status, current state and costs', async () => {
    sfn.on(DescribeExecutionCommand).resolves({ executionArn: EXEC, name: 'daily-1', status: 'RUNNING', stateMachineArn: smArn('drift-retrain'), startDate: new Date('2026-11-21T11:00:00Z') } as never);
    sfn.on(GetExecutionHistoryCommand).resolves({ events: [{ id: 9, type: 'TaskStateEntered', timestamp: NOW, stateEnteredEventDetails: { name: 'DetectDrift' } }] });
    const r = await cli(['status', EXEC]);
    expect(r.code).toBe(0);
    expect(r.out).toEqual([
      'Execution daily-1: RUNNING',
      `  state machine: ${smArn('drift-retrain')}`,
      '  started: 2026-11-21 11:00:00   stopped: -',
      '  current state: DetectDrift',
    ]);
  });

  test('a job run id shows its state, timing, billed cost and attempt', async () => {
    emr.on(GetJobRunCommand, { applicationId: APP, jobRunId: 'jr5' }).resolves({
      jobRun: {
        name: 'etl', state: 'SUCCESS', createdAt: new Date('2026-11-21T10:00:00Z'), updatedAt: new Date('2026-11-21T10:05:00Z'), startedAt: new Date('2026-11-21T10:00:10Z'), endedAt: new Date('2026-11-21T10:05:00Z'),
        queuedDurationMilliseconds: 0, totalExecutionDurationSeconds: 290, attempt: 1, billedResourceUtilization: { vCPUHour: 1, memoryGBHour: 4, storageGBHour: 0 },
      },
    } as never);
    emr.on(ListJobRunAttemptsCommand, { applicationId: APP, jobRunId: 'jr5' }).resolves({
      jobRunAttempts: [{ applicationId: APP, id: 'jr5', name: 'etl', attempt: 1, state: 'SUCCESS', stateDetails: '', createdAt: new Date('2026-11-21T10:00:00Z'), updatedAt: new Date('2026-11-21T10:05:00Z'), jobCreatedAt: new Date('2026-11-21T10:00:00Z') }],
    } as never);
    const r = await cli(['status', 'jr5']);
    expect(r.code).toBe(0);
    expect(r.out).toEqual([
      'Job run jr5 (etl): SUCCESS',
      '  created: 2026-11-21 10:00:00   started: 2026-11-21 10:00:10   ended: 2026-11-21 10:05:00',
      '  queued: 0.0s   run time: 4m50s',
      '  billed: 1 vCPU-h, 4 GB-h, 0 storage GB-h, $0.0606',
      '  attempts (1):',
      '    #1 SUCCESS   created: 2026-11-21 10:00:00   updated: 2026-11-21 10:05:00',
      `       driver log: s3://dev-logs-bucket/emr/applications/${APP}/jobs/jr5/SPARK_DRIVER/stderr.gz`,
    ]);
  });

  test('an unknown id is explained', async () => {
    emr.on(GetJobRunCommand).rejects(Object.assign(new Error('not found'), { name: 'ResourceNotFoundException', $metadata: {} }));
    const r = await cli(['status', 'nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`emrpipe: "nope" is neither an execution ARN nor a job run of application ${APP} in stage dev.`);
  });

  test('without an id lists recent executions of every pipeline and recent job runs', async () => {
    sfn.on(ListExecutionsCommand).resolves({ executions: [] });
    sfn.on(ListExecutionsCommand, { stateMachineArn: smArn('drift-retrain') }).resolves({
      executions: [{ executionArn: EXEC, stateMachineArn: smArn('drift-retrain'), name: 'daily-1', status: 'SUCCEEDED', startDate: new Date('2026-11-21T06:00:00Z') }],
    });
    emr.on(ListJobRunsCommand).resolves({ jobRuns: [{ id: 'jr5', name: 'etl', state: 'SUCCESS', createdAt: new Date('2026-11-21T06:01:00Z') }] } as never);
    const r = await cli(['status']);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`  SUCCEEDED 2026-11-21 06:00:00  ${EXEC}`);
    expect(r.out).toContain('  SUCCESS   2026-11-21 06:01:00  jr5  etl');
    expect(r.out.filter((l) => l === '  no executions')).toHaveLength(3);
    expect(sfn.commandCalls(ListExecutionsCommand)).toHaveLength(4);
  });
});
