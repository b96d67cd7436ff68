import { Readable } from 'node:stream';
import { EMRServerlessClient, EMRServerlessServiceException, StartJobRunCommand, ValidationException } from '@aws-sdk/client-emr-serverless';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/core/serde';
import { mockClient } from 'aws-sdk-client-mock';
import { createHandler } from '../lambda/start-job-run/index';
import { clientToken } from '../lib/jobs/job-request-builder';
import { fixtureEnv, fixtureManifest } from './fixtures/job-manifest';

const s3 = mockClient(S3Client);
/** EMR Serverless has no modelled throttling error: the service answers 400 ThrottlingException (AWS JSON protocol). */
const throttled = () =>
  new EMRServerlessServiceException({ name: 'ThrottlingException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'Rate exceeded' });
const emr = mockClient(EMRServerlessClient);
const manifestBody = () => ({ Body: sdkStreamMixin(Readable.from([Buffer.from(JSON.stringify(fixtureManifest))])), ETag: '"m1"' });

const event = {
  job: 'drift',
  step: 'drift-process',
  args: { action: 'process', input: 's3://dev-lake-bucket/bronze/netflix/stream/incoming/', staging: 's3://dev-lake-bucket/silver/netflix/stream/staging/' },
  schedule: { name: 'dev-drift-retrain', scheduledTime: '2026-11-21T06:00:00Z' },
};

describe('start-job-run handler', () => {
  const saved = { ...process.env };
  const sleeps: number[] = [];
  const make = (maxAttempts = 4) =>
    createHandler({
      s3: new S3Client({ region: 'eu-west-1' }),
      emr: new EMRServerlessClient({ region: 'eu-west-1' }),
      sleep: async (ms) => {
        sleeps.push(ms);
      },
      maxAttempts,
    });

  beforeEach(() => {
    s3.reset();
    emr.reset();
    sleeps.length = 0;
    process.env = {
      ...saved,
      STAGE: 'dev',
      APPLICATION_ID: fixtureEnv.applicationId,
      JOB_ROLE_ARN: fixtureEnv.jobRoleArn,
      ARTIFACTS_BUCKET: fixtureEnv.artifactsBucket,
      LOGS_BUCKET: fixtureEnv.logsBucket,
      LAKE_BUCKET: fixtureEnv.lakeBucket,
      MODELS_BUCKET: fixtureEnv.modelsBucket,
    };
    s3.on(GetObjectCommand).callsFake(manifestBody);
  });
  afterAll(() => {
    process.env = saved;
  });

  it('starts the job run built by the shared builder (camelCase SDK input)', async () => {
    emr.on(StartJobRunCommand).resolves({ applicationId: '00fabc123def4567', jobRunId: 'jr-1', arn: 'arn:aws:emr-serverless:eu-west-1:123456789012:/applications/00fabc123def4567/jobruns/jr-1' });
    const result = await make()(event);
    const expectedToken = clientToken('schedule:dev-drift-retrain@2026-11-21T06:00:00Z', 'drift-process');
    expect(result).toEqual({
      applicationId: '00fabc123def4567',
      jobRunId: 'jr-1',
      arn: 'arn:aws:emr-serverless:eu-west-1:123456789012:/applications/00fabc123def4567/jobruns/jr-1',
      name: 'standalone-dev-drift-retrain-20261121T060000Z-drift-process',
      clientToken: expectedToken,
      resultUri: 's3://dev-lake-bucket/runs/standalone/dev-drift-retrain-20261121T060000Z/drift-process.json',
    });
    const input = emr.commandCalls(StartJobRunCommand)[0].args[0].input;
    expect(input).toMatchObject({
      applicationId: '00fabc123def4567',
      executionRoleArn: fixtureEnv.jobRoleArn,
      clientToken: expectedToken,
      executionTimeoutMinutes: 120,
      jobDriver: {
        sparkSubmit: {
          entryPoint: `s3://dev-artifacts-bucket/artifacts/${'05'.repeat(32)}/drift.py`,
          entryPointArguments: [
            'process',
            '--result-uri', 's3://dev-lake-bucket/runs/standalone/dev-drift-retrain-20261121T060000Z/drift-process.json',
            '--input', 's3://dev-lake-bucket/bronze/netflix/stream/incoming/',
            '--staging', 's3://dev-lake-bucket/silver/netflix/stream/staging/',
          ],
        },
      },
      configurationOverrides: { monitoringConfiguration: { s3MonitoringConfiguration: { logUri: 's3://dev-logs-bucket/emr/' } } },
      tags: { job: 'drift', step: 'drift-process', stateMachine: 'standalone' },
    });
    expect(input.jobDriver?.sparkSubmit?.sparkSubmitParameters).toContain(`spark.archives=s3://dev-artifacts-bucket/artifacts/${'a'.repeat(64)}/python-deps.tar.gz#environment`);
  });

  it('retries throttling with backoff and the same ClientToken, then succeeds', async () => {
    emr
      .on(StartJobRunCommand)
      .rejectsOnce(throttled())
      .rejectsOnce(throttled())
      .resolves({ applicationId: '00fabc123def4567', jobRunId: 'jr-2', arn: 'arn:jr-2' });
    const result = await make()(event);
    expect(result.jobRunId).toBe('jr-2');
    const tokens = emr.commandCalls(StartJobRunCommand).map((c) => c.args[0].input.clientToken);
    expect(tokens).toHaveLength(3);
    expect(new Set(tokens).size).toBe(1);
    expect(sleeps).toHaveLength(2);
    expect(sleeps[0]).toBeLessThanOrEqual(200);
    expect(sleeps[1]).toBeLessThanOrEqual(400);
  });

  it('gives up after maxAttempts throttles and surfaces the throttling error', async () => {
    emr.on(StartJobRunCommand).rejects(throttled());
    await expect(make(3)(event)).rejects.toMatchObject({ name: 'ThrottlingException' });
    expect(emr.commandCalls(StartJobRunCommand)).toHaveLength(3);
  });

  it('does not retry a validation error from EMR Serverless', async () => {
    emr.on(StartJobRunCommand).rejects(new ValidationException({ $metadata: { httpStatusCode: 400 }, message: 'Application is stopped' }));
    await expect(make()(event)).rejects.toMatchObject({ name: 'ValidationException' });
    expect(emr.commandCalls(StartJobRunCommand)).toHaveLength(1);
  });

  it('a re-delivered event (Lambda/Scheduler retry) sends the same ClientToken; the next schedule tick a new one', async () => {
    emr.on(StartJobRunCommand).resolves({ applicationId: '00fabc123def4567', jobRunId: 'jr-same', arn: 'arn:jr' });
    const handler = make();
    await handler(event);
    await handler(event);
    await handler({ ...event, schedule: { ...event.schedule, scheduledTime: '2026-11-22T06:00:00Z' } });
    const tokens = emr.commandCalls(StartJobRunCommand).map((c) => c.args[0].input.clientToken);
    expect(tokens[0]).toBe(tokens[1]);
    expect(tokens[2]).not.toBe(tokens[0]);
  });

  it('rejects a malformed event naming the field, without calling EMR', async () => {
    await expect(make()({ ...event, schedule: { name: 'x', scheduledTime: 'yesterday' } })).rejects.toMatchObject({
      name: 'ValidationError',
      message: expect.stringMatching(/event\.schedule\.scheduledTime: must be an ISO-8601 UTC time/),
    });
    await expect(make()({ ...event, job: 'nope' })).rejects.toThrow(/job: unknown job "nope"/);
    expect(emr.commandCalls(StartJobRunCommand)).toHaveLength(0);
  });
});
