import { EMRServerlessClient, GetJobRunCommand } from '@aws-sdk/client-emr-serverless';
import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/core/serde';
import { mockClient } from 'aws-sdk-client-mock';
import { Readable } from 'node:stream';
import { handler } from '../lambda/record-job-cost';
import { describeJobRun, getJobRunShape, type JobRunRecord } from '../local/emr-adapter';
import { localWorker } from '../local/job-run-usage';

const emr = mockClient(EMRServerlessClient);
const s3 = mockClient(S3Client);

const jobRun = (over: Record<string, unknown> = {}) => ({
  jobRun: {
    applicationId: 'app1',
    jobRunId: 'jr1',
    state: 'SUCCESS',
    totalExecutionDurationSeconds: 300,
    billedResourceUtilization: { vCPUHour: 2, memoryGBHour: 8, storageGBHour: 0 },
    ...over,
  },
});

const body = (text: string) => sdkStreamMixin(Readable.from([Buffer.from(text)]));

beforeEach(() => {
  emr.reset();
  s3.reset();
  process.env.AWS_REGION = 'us-east-1';
  process.env.ARCHITECTURE = 'X86_64';
});

test('prices the billed utilization of the .sync task output (PascalCase JobRun)', async () => {
  emr.on(GetJobRunCommand, { applicationId: 'app1', jobRunId: 'jr1' }).resolves(jobRun() as never);
  const out = await handler({ jobRun: { JobRun: { ApplicationId: 'app1', JobRunId: 'jr1', State: 'SUCCESS' } }, step: 'train' });
  expect(out).toMatchObject({
    applicationId: 'app1', jobRunId: 'jr1', step: 'train', state: 'SUCCESS',
    vCPUHour: 2, memoryGBHour: 8, storageGBHour: 0, wallSeconds: 300, region: 'us-east-1', architecture: 'X86_64',
    resultUpdated: false,
  });
  expect(out.costUsd).toBe(0.151476); // 2*0.052624 + 8*0.0057785
  expect(emr.commandCalls(GetJobRunCommand)).toHaveLength(1);
});

test('accepts top-level {applicationId, jobRunId} and prices ARM64 from ARCHITECTURE', async () => {
  process.env.ARCHITECTURE = 'ARM64';
  emr.on(GetJobRunCommand).resolves(jobRun() as never);
  const out = await handler({ applicationId: 'app1', jobRunId: 'jr1' });
  expect(out.architecture).toBe('ARM64');
  expect(out.costUsd).toBeCloseTo(0.151476 * 0.8, 5);
});

test('adds the record to the job result JSON as `resources`', async () => {
  emr.on(GetJobRunCommand).resolves(jobRun() as never);
  s3.on(GetObjectCommand, { Bucket: 'lake', Key: 'runs/sm/exec/train.json' }).resolves({
    Body: body(JSON.stringify({ job: 'train', status: 'SUCCEEDED', outputs: { model: 's3://m/v1' } })),
  } as never);
  s3.on(PutObjectCommand).resolves({});
  const out = await handler({ applicationId: 'app1', jobRunId: 'jr1', resultUri: 's3://lake/runs/sm/exec/train.json', step: 'train' });
  expect(out.resultUpdated).toBe(true);
  const put = s3.commandCalls(PutObjectCommand)[0]!.args[0].input;
  expect(put.Bucket).toBe('lake');
  expect(put.Key).toBe('runs/sm/exec/train.json');
  const written = JSON.parse(String(put.Body));
  expect(written.job).toBe('train');
  expect(written.outputs).toEqual({ model: 's3://m/v1' });
  expect(written.resources).toMatchObject({ jobRunId: 'jr1', costUsd: 0.151476, vCPUHour: 2 });
  expect(written.resources.resultUpdated).toBeUndefined();
});

test('a missing result JSON is not an error (failed job runs may not write one)', async () => {
  emr.on(GetJobRunCommand).resolves(jobRun({ state: 'FAILED' }) as never);
  s3.on(GetObjectCommand).rejects(new NoSuchKey({ message: 'nope', $metadata: {} }));
  const out = await handler({ applicationId: 'app1', jobRunId: 'jr1', resultUri: 's3://lake/runs/x.json' });
  expect(out).toMatchObject({ state: 'FAILED', resultUpdated: false, costUsd: 0.151476 });
  expect(s3.commandCalls(PutObjectCommand)).toHaveLength(0);
});

test('a region without prices records usage with costUsd null instead of failing the pipeline', async () => {
  process.env.AWS_REGION = 'ap-southeast-7';
  emr.on(GetJobRunCommand).resolves(jobRun() as never);
  const out = await handler({ applicationId: 'app1', jobRunId: 'jr1' });
  expect(out.costUsd).toBeNull();
  expect(out.vCPUHour).toBe(2);
  expect(out.pricingError).toMatch(/ap-southeast-7/);
});

describe('a run of the local runner', () => {
  // The local runner answers GetJobRun itself (local/emr-adapter.ts getJobRunShape): one worker of local[2] cores
  // and a 2 GB driver, billed as EMR Serverless bills (one-minute minimum per worker, storage above 20 GB only).
  const localRun = (durationSeconds: number, state: JobRunRecord['state'] = 'SUCCESS'): JobRunRecord => ({
    applicationId: '00local', jobRunId: '00abc', arn: 'arn:aws:emr-serverless:us-east-1:000000000000:/applications/00local/jobruns/00abc', name: 'etl',
    state, stateDetails: '', exitCode: 0, createdAt: new Date('2026-11-21T10:00:00Z'), startedAt: new Date('2026-11-21T10:00:05Z'),
    endedAt: new Date(Date.parse('2026-11-21T10:00:05Z') + durationSeconds * 1000), queuedMilliseconds: 5000, durationSeconds,
    worker: localWorker('local[2]', '2g'), logFile: '.local/logs/x/03-etl.log', commandLine: [], cpuSeconds: 84, attempt: 1, attempts: [],
  });
  const request = { ApplicationId: '00local', ExecutionRoleArn: 'arn:aws:iam::000000000000:role/job', ClientToken: 't', JobDriver: { SparkSubmit: { EntryPoint: 's3://a/e.py' } } };

  test('is priced from the billed utilization its GetJobRun reports, with the one-minute minimum', async () => {
    const record = localRun(42);
    emr.on(GetJobRunCommand, { applicationId: '00local', jobRunId: '00abc' }).resolves({ jobRun: getJobRunShape(record, 'emr-spark-8.0.0', request) } as never);
    // the .sync output the state machine passes (its runner-only `Local` notes are not read)
    const out = await handler({ jobRun: describeJobRun(record, request, 'emr-spark-8.0.0'), step: 'etl-train' });
    expect(emr.commandCalls(GetJobRunCommand)).toHaveLength(1);
    const minute = 60 / 3600;
    expect(out).toMatchObject({ source: 'emr-serverless', applicationId: '00local', jobRunId: '00abc', step: 'etl-train', state: 'SUCCESS', wallSeconds: 42, storageGBHour: 0 });
    expect(out.vCPUHour).toBeCloseTo(2 * minute, 6);
    expect(out.memoryGBHour).toBeCloseTo(2 * minute, 6);
    expect(out.costUsd).toBeCloseTo(2 * minute * 0.052624 + 2 * minute * 0.0057785, 6); // $0.001947
    expect(out.costUsd).toBeGreaterThan(0);
    // start latency and queueing from GetJobRun's own fields
    expect(out).toMatchObject({
      createdAt: '2026-11-21T10:00:00.000Z',
      startedAt: '2026-11-21T10:00:05.000Z',
      endedAt: '2026-11-21T10:00:47.000Z',
      queuedSeconds: 5,
      startLatencySeconds: 5,
      runSeconds: 42,
      attempt: 1,
    });
  });

  test('a longer run is billed for its run time (queue time excluded)', async () => {
    const record = localRun(300);
    emr.on(GetJobRunCommand).resolves({ jobRun: getJobRunShape(record, 'emr-spark-8.0.0', request) } as never);
    const out = await handler({ applicationId: '00local', jobRunId: '00abc' });
    expect(out.vCPUHour).toBeCloseTo((2 * 300) / 3600, 6);
    expect(out.costUsd).toBeCloseTo((2 * 300 * 0.052624 + 2 * 300 * 0.0057785) / 3600, 6);
  });

  test('a run cancelled in the queue never had a worker and bills nothing', async () => {
    const record = { ...localRun(0, 'CANCELLED'), startedAt: undefined };
    emr.on(GetJobRunCommand).resolves({ jobRun: getJobRunShape(record, 'emr-spark-8.0.0', request) } as never);
    const out = await handler({ applicationId: '00local', jobRunId: '00abc' });
    expect(out).toMatchObject({ state: 'CANCELLED', vCPUHour: 0, memoryGBHour: 0, storageGBHour: 0, costUsd: 0 });
  });
});

test('bad input names the field', async () => {
  await expect(handler({ step: 'x' })).rejects.toThrow(/applicationId: required/);
  await expect(handler({ applicationId: 'a', jobRunId: 'j', resultUri: 'http://x' })).rejects.toThrow(/resultUri/);
});

test('publishes queue, start latency and run time as CloudWatch metrics (embedded metric format) per step', async () => {
  emr.on(GetJobRunCommand).resolves(
    jobRun({ createdAt: new Date('2026-11-21T10:00:00Z'), startedAt: new Date('2026-11-21T10:01:30Z'), queuedDurationMilliseconds: 60_000 }) as never,
  );
  const lines: string[] = [];
  // Powertools writes the EMF document to stdout with its own Console
  const log = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
    lines.push(...String(chunk).split('\n'));
    return true;
  });
  try {
    await handler({ applicationId: 'app1', jobRunId: 'jr1', step: 'train' });
  } finally {
    log.mockRestore();
  }
  const emf = lines.map((l) => { try { return JSON.parse(l); } catch { return undefined; } }).find((l) => l?._aws?.CloudWatchMetrics);
  expect(emf).toBeDefined();
  expect(emf._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'EmrMlPipelines/JobRuns', Dimensions: [expect.arrayContaining(['Step'])] });
  expect(emf).toMatchObject({ Step: 'train', QueuedSeconds: 60, StartLatencySeconds: 90, RunSeconds: 300 });
});
