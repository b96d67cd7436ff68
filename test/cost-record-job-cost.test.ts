import { EMRServerlessClient, GetJobRunCommand } from '@aws-sdk/client-emr-serverless';
import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/core/serde';
import { mockClient } from 'aws-sdk-client-mock';
import { Readable } from 'node:stream';
import { handler } from '../lambda/record-job-cost';

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

test('a local run (LocalResourceUtilization) is reported with cost 0 and no AWS call', async () => {
  const out = await handler({
    jobRun: { JobRun: { ApplicationId: 'local', JobRunId: 'local-1', State: 'SUCCESS', LocalResourceUtilization: { wallSeconds: 60, cpuSeconds: 90 } } },
  });
  expect(out).toMatchObject({ source: 'local', costUsd: 0, wallSeconds: 60, cpuSeconds: 90, state: 'SUCCESS' });
  expect(out.vCPUHour).toBeCloseTo(0.025, 10);
  expect(emr.commandCalls(GetJobRunCommand)).toHaveLength(0);
});

test('the local runner\'s .sync output (Local.cpuSeconds) is reported in the same shape with cost 0', async () => {
  const out = await handler({
    jobRun: {
      ApplicationId: '00local', JobRunId: '00abc', State: 'SUCCESS', TotalExecutionDurationSeconds: 42,
      BilledResourceUtilization: { VCPUHour: 0, MemoryGBHour: 0, StorageGBHour: 0 },
      Local: { logFile: '.local/logs/x/03-etl.log', exitCode: 0, cpuSeconds: 84 },
    },
    step: 'etl-train',
  });
  expect(out).toMatchObject({ source: 'local', applicationId: '00local', jobRunId: '00abc', step: 'etl-train', state: 'SUCCESS', costUsd: 0, wallSeconds: 42, cpuSeconds: 84, storageGBHour: 0 });
  expect(out.vCPUHour).toBeCloseTo(84 / 3600, 10);
  expect(emr.commandCalls(GetJobRunCommand)).toHaveLength(0);
});

test('bad input names the field', async () => {
  await expect(handler({ step: 'x' })).rejects.toThrow(/applicationId: required/);
  await expect(handler({ applicationId: 'a', jobRunId: 'j', resultUri: 'http://x' })).rejects.toThrow(/resultUri/);
});
