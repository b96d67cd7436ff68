import { Readable } from 'node:stream';
import { GetObjectCommand, NoSuchKey, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/core/serde';
import { mockClient } from 'aws-sdk-client-mock';
import { createHandler } from '../lambda/build-job-request/index';
import { fixtureEnv, fixtureExecution, fixtureManifest } from './fixtures/job-manifest';

const s3 = mockClient(S3Client);
const body = (text: string) => sdkStreamMixin(Readable.from([Buffer.from(text)]));

const lambdaEnv = {
  STAGE: 'dev',
  APPLICATION_ID: fixtureEnv.applicationId,
  JOB_ROLE_ARN: fixtureEnv.jobRoleArn,
  ARTIFACTS_BUCKET: fixtureEnv.artifactsBucket,
  LOGS_BUCKET: fixtureEnv.logsBucket,
  LAKE_BUCKET: fixtureEnv.lakeBucket,
  MODELS_BUCKET: fixtureEnv.modelsBucket,
  JOB_TIMEOUT_MINUTES: '90',
};

const event = {
  job: 'create_futures',
  step: 'create-futures',
  args: { input: 's3://dev-lake-bucket/bronze/netflix/raw/future.txt', output: 's3://dev-lake-bucket/gold/netflix/futures/' },
  execution: fixtureExecution,
};

async function loadHandler() {
  return createHandler(new S3Client({ region: 'eu-west-1' }));
}

describe('build-job-request handler', () => {
  const saved = { ...process.env };
  beforeEach(() => {
    s3.reset();
    process.env = { ...saved, ...lambdaEnv };
  });
  afterAll(() => {
    process.env = saved;
  });

  it('reads manifests/current.json and returns the PascalCase request', async () => {
    s3.on(GetObjectCommand, { Bucket: 'dev-artifacts-bucket', Key: 'manifests/current.json' }).resolves({ Body: body(JSON.stringify(fixtureManifest)), ETag: '"e1"' });
    const handler = await loadHandler();
    const request = await handler(event);
    expect(request.ApplicationId).toBe('00fabc123def4567');
    expect(request.ExecutionTimeoutMinutes).toBe(90);
    expect(request.JobDriver.SparkSubmit.EntryPoint).toBe(`s3://dev-artifacts-bucket/artifacts/${'02'.repeat(32)}/create_futures.py`);
    expect(request.JobDriver.SparkSubmit.EntryPointArguments).toEqual([
      '--result-uri',
      's3://dev-lake-bucket/runs/dev-recommender/run-2026-11-21/create-futures.json',
      '--input',
      's3://dev-lake-bucket/bronze/netflix/raw/future.txt',
      '--output',
      's3://dev-lake-bucket/gold/netflix/futures/',
    ]);
  });

  it('revalidates a mutable manifest with If-None-Match and reuses it on 304', async () => {
    s3.on(GetObjectCommand).resolvesOnce({ Body: body(JSON.stringify(fixtureManifest)), ETag: '"e1"' }).rejects(
      new S3ServiceException({ name: 'NotModified', $fault: 'client', $metadata: { httpStatusCode: 304 }, message: 'Not Modified' }),
    );
    const handler = await loadHandler();
    const first = await handler(event);
    const second = await handler({ ...event, step: 'create-futures-2' });
    expect(second.JobDriver.SparkSubmit.EntryPoint).toBe(first.JobDriver.SparkSubmit.EntryPoint);
    const calls = s3.commandCalls(GetObjectCommand);
    expect(calls).toHaveLength(2);
    expect(calls[0].args[0].input.IfNoneMatch).toBeUndefined();
    expect(calls[1].args[0].input.IfNoneMatch).toBe('"e1"');
  });

  it('reads a content-addressed manifest once per container', async () => {
    const key = `manifests/${'f'.repeat(64)}.json`;
    process.env.MANIFEST_KEY = key;
    s3.on(GetObjectCommand, { Key: key }).resolves({ Body: body(JSON.stringify(fixtureManifest)), ETag: '"e1"' });
    const handler = await loadHandler();
    await handler(event);
    await handler(event);
    expect(s3.commandCalls(GetObjectCommand)).toHaveLength(1);
  });

  it('fails with a clear message when the manifest was never deployed', async () => {
    s3.on(GetObjectCommand).rejects(new NoSuchKey({ $metadata: {}, message: 'The specified key does not exist.' }));
    const handler = await loadHandler();
    await expect(handler(event)).rejects.toThrow(/manifests\/current\.json does not exist: deploy the artifacts \(npm run package, then cdk deploy\)/);
  });

  it('rejects an invalid manifest naming the field', async () => {
    s3.on(GetObjectCommand).resolves({ Body: body(JSON.stringify({ ...fixtureManifest, artifacts: [] })) });
    const handler = await loadHandler();
    await expect(handler(event)).rejects.toThrow(/manifests\/current\.json\.artifacts: /);
  });

  it('rejects bad input with ValidationError naming the field', async () => {
    s3.on(GetObjectCommand).callsFake(() => ({ Body: body(JSON.stringify(fixtureManifest)) }));
    const handler = await loadHandler();
    await expect(handler({ ...event, job: 'nope' })).rejects.toMatchObject({ name: 'ValidationError', message: expect.stringMatching(/job: unknown job "nope"/) });
    await expect(handler({ ...event, args: { ...event.args, input: 'ftp://x' } })).rejects.toMatchObject({
      name: 'ValidationError',
      message: expect.stringMatching(/args\.input: must be an s3:\/\/bucket/),
    });
  });

  it('names the missing environment variable', async () => {
    delete process.env.JOB_ROLE_ARN;
    const handler = await loadHandler();
    await expect(handler(event)).rejects.toThrow(/Invalid Lambda environment: JOB_ROLE_ARN: /);
  });
});
