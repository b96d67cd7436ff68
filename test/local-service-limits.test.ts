/**
 * Service limits and clocks of the local runner, as on AWS, on a small hand-written cloud assembly (IAM roles and
 * policies included, every call authorized): Step Functions' 256 KiB payload quota (States.DataLimitExceeded,
 * not catchable), SNS Publish parameter limits, a Task's TimeoutSeconds on a slow Lambda, a Lambda's own timeout,
 * and EMR Serverless queueing (MaxConcurrentRuns, QueueTimeoutMinutes) and cancellation of a `.sync` job run whose
 * task times out. Job runs use a stand-in spark-submit that only sleeps (no JVM), and a service clock scaled so
 * a 30-minute queue timeout lasts 2 s.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { LocalDeployment } from '../local/deployment';
import { LocalLayout } from '../local/layout';
import { ExecutionRecord, LocalRuntime } from '../local/runtime';
import { PAYLOAD_LIMIT_BYTES, payloadBytes, validateSnsPublish } from '../local/service-limits';
import { failureMessage } from '../local/index';
import { executionLine, ProgressDisplay } from '../local/progress';
import { policy, role, startJobRunSyncStatements } from './support/hand-assembly';

const projectRoot = path.resolve(__dirname, '..');
const work = path.join(projectRoot, '.local', 'test-service-limits');
const assemblyDir = path.join(work, 'assembly');
const SCALE = 1 / 900; // service minutes → real: 30 min queue timeout = 2 s, 15 min execution timeout = 1 s

const HANDLER = `
exports.handler = async (event) => {
  if (event.sleepMs) await new Promise((resolve) => setTimeout(resolve, event.sleepMs));
  if (event.size) return { blob: 'x'.repeat(event.size) };
  return { ok: true };
};
`;

// stands in for spark-submit: sleeps as many seconds as the job's last argument says; `fail-once:<file>` fails
// the first attempt (creating the file) and succeeds on the next
const FAKE_SPARK_SUBMIT =
  '#!/bin/sh\nfor a; do last="$a"; done\n' +
  'case "$last" in fail-once:*) marker="${last#fail-once:}"; [ -e "$marker" ] && exit 0; : > "$marker"; echo "RuntimeError: first attempt fails" >&2; exit 1;; esac\n' +
  'exec sleep "$last"\n';


const task = (resource: string, extra: Record<string, unknown> = {}) => ({ Type: 'Task', Resource: resource, ...extra });

const machines: Record<string, Record<string, unknown>> = {
  payload: {
    StartAt: 'First',
    States: {
      First: task('${EchoArn}', { Parameters: { 'size.$': '$.size' }, ResultPath: '$.first', Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Caught' }], Next: 'Second' }),
      Second: task('${EchoArn}', { Parameters: { 'size.$': '$.size' }, ResultPath: '$.second', Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Caught' }], Next: 'After' }),
      After: task('${EchoArn}', { Parameters: { after: true }, ResultPath: null, End: true }),
      Caught: { Type: 'Pass', Result: 'caught', End: true },
    },
  },
  sns: {
    StartAt: 'Publish',
    States: { Publish: task('arn:aws:states:::sns:publish', { Parameters: { TopicArn: '${TopicArn}', 'Subject.$': '$.subject', Message: 'hello' }, End: true }) },
  },
  'slow-task': {
    StartAt: 'Slow',
    // States.TaskFailed does not match States.Timeout
    States: {
      Slow: task('${EchoArn}', { Parameters: { 'sleepMs.$': '$.sleepMs' }, TimeoutSeconds: 1, Catch: [{ ErrorEquals: ['States.TaskFailed'], Next: 'Caught' }], End: true }),
      Caught: { Type: 'Pass', End: true },
    },
  },
  heartbeat: { StartAt: 'Quiet', States: { Quiet: task('${EchoArn}', { Parameters: { sleepMs: 2500 }, TimeoutSeconds: 60, HeartbeatSeconds: 1, End: true }) } },
  'lambda-timeout': { StartAt: 'Short', States: { Short: task('${ShortArn}', { Parameters: { sleepMs: 3000 }, TimeoutSeconds: 60, End: true }) } },
  job: jobMachine(600),
  'job-short': jobMachine(1),
  'job-retry': jobMachine(600, { Mode: 'BATCH', 'RetryPolicy.$': '$.retryPolicy' }),
};

function jobMachine(timeoutSeconds: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    StartAt: 'Run job',
    States: {
      'Run job': task('arn:aws:states:::emr-serverless:startJobRun.sync', {
        Parameters: {
          ApplicationId: '${AppId}',
          ExecutionRoleArn: '${RoleArn}',
          Name: 'sleep',
          'ClientToken.$': '$$.Execution.Name',
          'ExecutionTimeoutMinutes.$': '$.executionTimeoutMinutes',
          JobDriver: { SparkSubmit: { EntryPoint: 's3://${Artifacts}/jobs/sleep.py', 'EntryPointArguments.$': "States.Array(States.Format('{}', $.seconds))" } },
          ...extra,
        },
        TimeoutSeconds: timeoutSeconds,
        End: true,
      }),
    },
  };
}

function writeAssembly(): void {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(path.join(assemblyDir, 'asset.handler'), { recursive: true });
  writeFileSync(path.join(assemblyDir, 'asset.handler', 'index.js'), HANDLER);
  const tokens: Record<string, unknown> = {
    '${EchoArn}': { 'Fn::GetAtt': ['EchoFunction1A2B3C4D', 'Arn'] },
    '${ShortArn}': { 'Fn::GetAtt': ['ShortFunction5A6B7C8D', 'Arn'] },
    '${AppId}': { 'Fn::GetAtt': ['SparkApp5E6F7A8B', 'ApplicationId'] },
    '${RoleArn}': { 'Fn::GetAtt': ['JobRole9C0D1E2F', 'Arn'] },
    '${Artifacts}': { Ref: 'ArtifactsBucket11223344' },
    '${TopicArn}': { Ref: 'AlertsTopicAABBCCDD' },
  };
  const definitionString = (definition: Record<string, unknown>) => ({
    'Fn::Join': ['', JSON.stringify(definition).split(/(\$\{[A-Za-z]+\})/).map((p) => tokens[p] ?? p)],
  });
  const fn = (timeout: number) => ({
    Type: 'AWS::Lambda::Function',
    Properties: { Handler: 'index.handler', Runtime: 'nodejs22.x', Timeout: timeout, Role: { 'Fn::GetAtt': ['FunctionRole22CC33DD', 'Arn'] } },
    Metadata: { 'aws:asset:path': 'asset.handler' },
  });
  const resources: Record<string, unknown> = {
    ArtifactsBucket11223344: { Type: 'AWS::S3::Bucket', Properties: {} },
    AlertsTopicAABBCCDD: { Type: 'AWS::SNS::Topic', Properties: {} },
    JobRole9C0D1E2F: role('emr-serverless.amazonaws.com'),
    JobRolePolicy00AA11BB: policy('job', 'JobRole9C0D1E2F', { Action: 's3:GetObject', Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['ArtifactsBucket11223344', 'Arn'] }, '/jobs/*']] } }),
    FunctionRole22CC33DD: role('lambda.amazonaws.com'),
    PipelineRole66AA77BB: role('states.amazonaws.com'),
    PipelineRolePolicy88CC99DD: policy(
      'pipeline',
      'PipelineRole66AA77BB',
      { Action: 'lambda:InvokeFunction', Resource: [{ 'Fn::GetAtt': ['EchoFunction1A2B3C4D', 'Arn'] }, { 'Fn::GetAtt': ['ShortFunction5A6B7C8D', 'Arn'] }] },
      ...startJobRunSyncStatements('SparkApp5E6F7A8B', 'JobRole9C0D1E2F'),
      { Action: 'sns:Publish', Resource: { Ref: 'AlertsTopicAABBCCDD' } },
    ),
    SparkApp5E6F7A8B: {
      Type: 'AWS::EMRServerless::Application',
      Properties: { ReleaseLabel: 'emr-spark-8.0.0', Type: 'SPARK', SchedulerConfiguration: { MaxConcurrentRuns: 1, QueueTimeoutMinutes: 30 } },
    },
    EchoFunction1A2B3C4D: fn(30),
    ShortFunction5A6B7C8D: fn(1),
  };
  for (const [name, definition] of Object.entries(machines)) {
    resources[`Limits${name.replace(/[^a-z]/gi, '')}StateMachine`] = {
      Type: 'AWS::StepFunctions::StateMachine',
      Properties: { StateMachineName: `limits-${name}`, RoleArn: { 'Fn::GetAtt': ['PipelineRole66AA77BB', 'Arn'] }, DefinitionString: definitionString(definition) },
    };
  }
  writeFileSync(path.join(assemblyDir, 'LimitsStack.template.json'), JSON.stringify({ Resources: resources }));
  writeFileSync(
    path.join(assemblyDir, 'manifest.json'),
    JSON.stringify({ version: '1', artifacts: { LimitsStack: { type: 'aws:cloudformation:stack', properties: { templateFile: 'LimitsStack.template.json' } } } }),
  );
}

async function until<T>(what: string, probe: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let runtime: LocalRuntime;
const steps = (record: ExecutionRecord) => record.steps.map((s) => [s.name, s.status]);
const jobRunOf = (record: ExecutionRecord) => runtime.emr.history.find((r) => r.logFile.includes(`${path.sep}${record.executionName}${path.sep}`));

beforeAll(async () => {
  writeAssembly();
  const fakeSparkSubmit = path.join(work, 'fake-spark-submit');
  writeFileSync(fakeSparkSubmit, FAKE_SPARK_SUBMIT);
  chmodSync(fakeSparkSubmit, 0o755);
  const layout = new LocalLayout(path.join(work, 'root')).ensure();
  runtime = await LocalRuntime.deploy(projectRoot, layout, LocalDeployment.fromAssembly(assemblyDir), {
    spark: { maxConcurrentRuns: 1, clock: { scale: SCALE }, sparkSubmit: fakeSparkSubmit, fastStartup: false },
  });
  mkdirSync(path.join(layout.bucketDir('artifacts-bucket'), 'jobs'), { recursive: true });
  writeFileSync(path.join(layout.bucketDir('artifacts-bucket'), 'jobs', 'sleep.py'), 'import sys, time; time.sleep(float(sys.argv[-1]))\n');
});
afterAll(() => runtime?.close());

describe('Step Functions payload quota (256 KiB)', () => {
  it('a task result over 256 KiB fails the execution with States.DataLimitExceeded, not caught by States.ALL', async () => {
    const record = await runtime.run('limits-payload', { size: 300_000 }, { executionName: 'big-result' });
    expect(record.status).toBe('FAILED');
    expect(record.error).toBe('States.DataLimitExceeded');
    expect(record.cause).toMatch(/returned a result with a size exceeding the maximum number of bytes service limit/);
    expect(steps(record)).toEqual([['First', 'failed']]);
  });

  it('a state output over 256 KiB (two results under it) ends the execution before the next task runs', async () => {
    const before = runtime.lambdas.invocations.length;
    const record = await runtime.run('limits-payload', { size: 200_000 }, { executionName: 'big-output' });
    expect(record.status).toBe('FAILED');
    expect(record.error).toBe('States.DataLimitExceeded');
    expect(record.cause).toContain("'Second'");
    expect(steps(record).slice(0, 2)).toEqual([['First', 'succeeded'], ['Second', 'failed']]);
    expect(steps(record).map(([name]) => name)).not.toContain('Caught');
    expect(runtime.lambdas.invocations.length - before).toBe(2); // After never invoked
    expect(record.output).toBeUndefined();
  });

  it('payloads under the quota pass', async () => {
    const record = await runtime.run('limits-payload', { size: 100 }, { executionName: 'small' });
    expect(record.status).toBe('SUCCEEDED');
    expect(payloadBytes('x'.repeat(PAYLOAD_LIMIT_BYTES - 2))).toBe(PAYLOAD_LIMIT_BYTES); // JSON quotes count
  });
});

describe('SNS Publish limits', () => {
  it('a Subject of 100 characters is rejected with SNS.InvalidParameterException; 99 pass', async () => {
    const rejected = await runtime.run('limits-sns', { subject: 's'.repeat(100) }, { executionName: 'subject-100' });
    expect(rejected.status).toBe('FAILED');
    expect(rejected.error).toBe('SNS.InvalidParameterException');
    expect(rejected.cause).toMatch(/^Invalid parameter: Subject/);
    const accepted = await runtime.run('limits-sns', { subject: 's'.repeat(99) }, { executionName: 'subject-99' });
    expect(accepted.status).toBe('SUCCEEDED');
    const alerts = readFileSync(runtime.layout.alertsFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(alerts.map((a) => a.subject)).toEqual(['s'.repeat(99)]);
  });

  it('a Subject with a line break or control character, or a Message over 262,144 bytes, is rejected', async () => {
    const broken = await runtime.run('limits-sns', { subject: 'pipeline\nfailed' }, { executionName: 'subject-newline' });
    expect(broken.error).toBe('SNS.InvalidParameterException');
    expect(() => validateSnsPublish({ Subject: 'bell\u0007' })).toThrow(/Invalid parameter: Subject/);
    expect(() => validateSnsPublish({ Message: 'é'.repeat(131_073) })).toThrow(/Message too long/); // 262,146 bytes
    expect(() => validateSnsPublish({ Subject: 'ok', Message: 'é'.repeat(131_072) })).not.toThrow();
  });
});

describe('timeouts', () => {
  it("a Task's TimeoutSeconds fires on a slow Lambda handler (States.Timeout, not matched by States.TaskFailed)", async () => {
    const record = await runtime.run('limits-slow-task', { sleepMs: 3000 }, { executionName: 'slow-task' });
    expect(record.status).toBe('FAILED');
    expect(record.error).toBe('States.Timeout');
    expect(steps(record)).toEqual([['Slow', 'failed']]);
  });

  it('HeartbeatSeconds fires (States.HeartbeatTimeout): no local integration sends heartbeats', async () => {
    const record = await runtime.run('limits-heartbeat', {}, { executionName: 'heartbeat' });
    expect(record.status).toBe('FAILED');
    expect(record.error).toBe('States.HeartbeatTimeout');
  });

  it("a Lambda's own timeout fails the task with Sandbox.Timedout", async () => {
    const record = await runtime.run('limits-lambda-timeout', {}, { executionName: 'lambda-timeout' });
    expect(record.status).toBe('FAILED');
    expect(record.error).toBe('Sandbox.Timedout');
    expect(JSON.parse(record.cause!)).toMatchObject({ errorType: 'Sandbox.Timedout', errorMessage: 'Task timed out after 1.00 seconds' });
  });
});

describe('the progress display shows a failure once, as a sentence', () => {
  it("a failed Lambda task: `Error: errorMessage` on the execution's line only, never the envelope (the log keeps it)", async () => {
    const written: string[] = [];
    const display = new ProgressDisplay({ interactive: false, root: work, write: (text) => written.push(text) });
    const record = await runtime.run('limits-lambda-timeout', {}, { executionName: 'lambda-timeout-display', onEvent: display.onEvent });
    const text = written.join('');
    expect(failureMessage(record)).toBe('Sandbox.Timedout: Task timed out after 1.00 seconds');
    expect(text.split('Task timed out after').length - 1).toBe(1);
    expect(text).toMatch(/✘ FAILED in \S+ {2}Sandbox\.Timedout: Task timed out after 1\.00 seconds\n$/);
    expect(text).not.toMatch(/errorType|errorMessage|trace/);
    // the envelope (and a trace when there is one) stays in the state's log file
    expect(readFileSync(record.steps[0]!.logFile!, 'utf8')).toContain('"errorType":"Sandbox.Timedout"');
  });

  it("a failed job run's cause (the job run JSON) reads as its StateDetails", () => {
    const cause = JSON.stringify({ ApplicationId: 'app', JobRunId: 'jr-1', State: 'FAILED', StateDetails: 'Job failed, exit code 1: ValueError: no ratings' });
    const record = { status: 'FAILED', error: 'States.TaskFailed', cause, startedAt: 0, durationMs: 2000 } as ExecutionRecord;
    expect(failureMessage(record)).toBe('States.TaskFailed: Job failed, exit code 1: ValueError: no ratings');
    expect(executionLine(record)).toBe('  ✘ FAILED in 2.0s  States.TaskFailed: Job failed, exit code 1: ValueError: no ratings');
    expect(failureMessage({ ...record, error: 'States.Runtime', cause: 'An error occurred while executing the state.\nmore' })).toBe('States.Runtime: An error occurred while executing the state.');
    expect(failureMessage({ ...record, cause: JSON.stringify({ ApplicationId: 'app', JobRunId: 'jr-2', State: 'CANCELLED' }) })).toBe('States.TaskFailed: job run jr-2 ended CANCELLED');
    expect(failureMessage({ ...record, status: 'SUCCEEDED' })).toBeUndefined();
  });
});

describe('EMR Serverless queueing and .sync cancellation', () => {
  const logOf = (execution: string) => path.join(runtime.layout.logsRoot, 'limits-job', execution, '01-run-job.log');

  it('with MaxConcurrentRuns 1, a queued run past QueueTimeoutMinutes ends CANCELLED; a task timing out in the queue cancels its run', async () => {
    const holder = runtime.run('limits-job', { seconds: 4, executionTimeoutMinutes: 720 }, { executionName: 'holder' });
    await until('the first job run to start', () => existsSync(logOf('holder')) && readFileSync(logOf('holder'), 'utf8').includes('local spark-submit'));
    const [queued, shortTask] = await Promise.all([
      runtime.run('limits-job', { seconds: 1, executionTimeoutMinutes: 720 }, { executionName: 'queued' }),
      runtime.run('limits-job-short', { seconds: 1, executionTimeoutMinutes: 720 }, { executionName: 'queued-short-task' }),
    ]);

    // the queue timeout (30 minutes, scaled to 2 s): the run never started and ends CANCELLED
    expect(queued.status).toBe('FAILED');
    expect(queued.error).toBe('States.TaskFailed');
    const cause = JSON.parse(queued.cause!);
    expect(cause.State).toBe('CANCELLED');
    expect(cause.StateDetails).toMatch(/timed out after waiting 30 minutes in the queue \(queueTimeoutMinutes\)/);
    expect(cause.StartedAt).toBeUndefined();
    const described = runtime.emr.getJobRun(cause.ApplicationId, cause.JobRunId)!;
    expect(described).toMatchObject({ state: 'CANCELLED', billedResourceUtilization: { vCPUHour: 0, memoryGBHour: 0, storageGBHour: 0 } });
    expect(described.queuedDurationMilliseconds as number).toBeGreaterThanOrEqual(1900);

    // TimeoutSeconds 1 counts the queue wait: the task times out first and its queued run is cancelled
    expect(shortTask.error).toBe('States.Timeout');
    const cancelled = await until('the cancelled run', () => jobRunOf(shortTask));
    expect(cancelled.state).toBe('CANCELLED');
    expect(cancelled.startedAt).toBeUndefined();
    expect(cancelled.stateDetails).toMatch(/timed out after 1 seconds \(TimeoutSeconds\)/);

    const first = await holder;
    expect([first.status, first.error, first.cause]).toEqual(['SUCCEEDED', undefined, undefined]);
    expect((first.output as { State: string }).State).toBe('SUCCESS');
  });

  it('a .sync task whose TimeoutSeconds is shorter than the job run ends States.Timeout and the run is CANCELLED', async () => {
    const record = await runtime.run('limits-job-short', { seconds: 30, executionTimeoutMinutes: 720 }, { executionName: 'sync-timeout' });
    expect(record.status).toBe('FAILED');
    expect(record.error).toBe('States.Timeout');
    const run = await until('the cancelled run', () => jobRunOf(record), 10_000);
    expect(run.state).toBe('CANCELLED');
    expect(run.startedAt).toBeInstanceOf(Date);
    expect(run.durationSeconds).toBeLessThan(10);
    expect(run.stateDetails).toMatch(/Step Functions: task "Run job" timed out after 1 seconds/);
  });

  it('ExecutionTimeoutMinutes (from leaving the queue) cancels a run that exceeds it', async () => {
    const record = await runtime.run('limits-job', { seconds: 30, executionTimeoutMinutes: 15 }, { executionName: 'execution-timeout' });
    expect(record.error).toBe('States.TaskFailed');
    const cause = JSON.parse(record.cause!);
    expect(cause).toMatchObject({ State: 'CANCELLED', StateDetails: 'Job run timed out after 15 minutes (executionTimeoutMinutes) and was cancelled.' });
    expect(cause.TotalExecutionDurationSeconds).toBeLessThan(10);
  });
});

describe('EMR Serverless retry policy (retryPolicy.maxAttempts, batch)', () => {
  it('a job that fails once and then succeeds ends SUCCEEDED on attempt 2, both attempts listed', async () => {
    const marker = path.join(work, 'fail-once-marker');
    rmSync(marker, { force: true });
    const record = await runtime.run('limits-job-retry', { seconds: `fail-once:${marker}`, executionTimeoutMinutes: 720, retryPolicy: { MaxAttempts: 2 } }, { executionName: 'retry-ok' });
    expect([record.status, record.error]).toEqual(['SUCCEEDED', undefined]);
    const output = record.output as { State: string; Attempt: number; ApplicationId: string; JobRunId: string };
    expect([output.State, output.Attempt]).toEqual(['SUCCESS', 2]);
    const attempts = runtime.emr.listJobRunAttempts(output.ApplicationId, output.JobRunId)!;
    expect(attempts.map((a) => [a.attempt, a.state])).toEqual([[1, 'FAILED'], [2, 'SUCCESS']]);
    expect(String(attempts[0]!.stateDetails)).toMatch(/ExitCode: 1\. .*RuntimeError: first attempt fails/);
    expect(runtime.emr.getJobRun(output.ApplicationId, output.JobRunId)).toMatchObject({ state: 'SUCCESS', attempt: 2, mode: 'BATCH', retryPolicy: { maxAttempts: 2 } });
  });

  it('without a retry policy the same job fails on its first attempt', async () => {
    const marker = path.join(work, 'fail-once-marker-2');
    rmSync(marker, { force: true });
    const record = await runtime.run('limits-job-retry', { seconds: `fail-once:${marker}`, executionTimeoutMinutes: 720, retryPolicy: { MaxAttempts: 1 } }, { executionName: 'retry-none' });
    expect(record.status).toBe('FAILED');
    expect(JSON.parse(record.cause!)).toMatchObject({ State: 'FAILED', Attempt: 1 });
  });

  it('maxAttempts above 10 is refused as the API refuses it', async () => {
    const record = await runtime.run('limits-job-retry', { seconds: 1, executionTimeoutMinutes: 720, retryPolicy: { MaxAttempts: 11 } }, { executionName: 'retry-bad' });
    expect(record.error).toBe('EMRServerless.ValidationException');
    expect(record.cause).toMatch(/retryPolicy\.maxAttempts/);
  });
});
