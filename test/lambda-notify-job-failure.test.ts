import { EMRServerlessClient, GetJobRunCommand, ResourceNotFoundException } from '@aws-sdk/client-emr-serverless';
import { GetObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { sdkStreamMixin } from '@smithy/core/serde';
import { mockClient } from 'aws-sdk-client-mock';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { errorTail, handler } from '../lambda/notify-job-failure';

const emr = mockClient(EMRServerlessClient);
const s3 = mockClient(S3Client);
const sns = mockClient(SNSClient);

const event = {
  version: '0',
  source: 'aws.emr-serverless',
  'detail-type': 'EMR Serverless Job Run State Change',
  detail: { applicationId: '00app', jobRunId: '00run', jobRunName: 'dev-recommender-run-1-train', state: 'FAILED' },
};
const STDERR = [
  '26/12/01 10:00:00 INFO SparkContext: Running Spark version 4.0.2',
  ...Array.from({ length: 40 }, (_, i) => `26/12/01 10:00:${String(i).padStart(2, '0')} INFO DAGScheduler: line ${i}`),
  'Traceback (most recent call last):',
  '  File "/tmp/train.py", line 88, in <module>',
  'ValueError: args.rank: must be a positive integer',
].join('\n');

beforeEach(() => {
  emr.reset();
  s3.reset();
  sns.reset();
  process.env.STAGE = 'dev';
  process.env.ALERTS_TOPIC_ARN = 'arn:aws:sns:us-east-1:123456789012:alerts';
  sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
});

test('the alert names the error, the stderr tail from the traceback, the log location and the emrpipe command', async () => {
  emr.on(GetJobRunCommand, { applicationId: '00app', jobRunId: '00run' }).resolves({
    jobRun: {
      applicationId: '00app', jobRunId: '00run', name: 'dev-recommender-run-1-train', state: 'FAILED', attempt: 2,
      stateDetails: 'Job failed, please check complete logs in configured logging destination. ExitCode: 1.',
      tags: { stage: 'dev', stateMachine: 'emr-ml-dev-recommender-training', execution: 'run-1', step: 'train' },
      configurationOverrides: { monitoringConfiguration: { s3MonitoringConfiguration: { logUri: 's3://logs-bucket/emr/' } } },
    } as never,
  });
  s3.on(GetObjectCommand, { Bucket: 'logs-bucket', Key: 'emr/applications/00app/jobs/00run/attempts/2/SPARK_DRIVER/stderr.gz' }).resolves({
    Body: sdkStreamMixin(Readable.from([gzipSync(STDERR)])) as never,
  });
  const out = await handler(event);
  expect(out).toEqual({ messageId: 'm-1', subject: '[emr-ml dev] job train FAILED' });
  const published = sns.commandCalls(PublishCommand)[0]!.args[0].input;
  expect(published.TopicArn).toBe('arn:aws:sns:us-east-1:123456789012:alerts');
  expect(published.Message).toContain('EMR Serverless job run 00run (dev-recommender-run-1-train) of application 00app FAILED on attempt 2.');
  expect(published.Message).toContain('Pipeline: emr-ml-dev-recommender-training, execution run-1, step train.');
  expect(published.Message).toContain('Error: Job failed, please check complete logs in configured logging destination. ExitCode: 1.');
  expect(published.Message).toContain("Last lines of the driver's stderr (s3://logs-bucket/emr/applications/00app/jobs/00run/attempts/2/SPARK_DRIVER/stderr.gz):");
  expect(published.Message).toMatch(/Traceback \(most recent call last\):\n {2}File "\/tmp\/train.py", line 88, in <module>\nValueError: args.rank: must be a positive integer/);
  expect(published.Message).not.toContain('Running Spark version');
  expect(published.Message).toContain('Whole log: npx emrpipe logs 00run --stderr --stage dev');
});

test('an unreadable log (403 without the grant) still alerts, saying where the log is and why it was not read', async () => {
  emr.on(GetJobRunCommand).resolves({
    jobRun: { applicationId: '00app', jobRunId: '00run', state: 'FAILED', stateDetails: 'Job failed. ExitCode: 1.',
      configurationOverrides: { monitoringConfiguration: { s3MonitoringConfiguration: { logUri: 's3://logs-bucket/emr' } } } } as never,
  });
  s3.on(GetObjectCommand).rejects(new S3ServiceException({ name: 'AccessDenied', $fault: 'client', message: 'Access Denied', $metadata: { httpStatusCode: 403 } }));
  await handler(event);
  const message = sns.commandCalls(PublishCommand)[0]!.args[0].input.Message!;
  expect(message).toContain('Error: Job failed. ExitCode: 1.');
  expect(message).toContain('Driver log: s3://logs-bucket/emr/applications/00app/jobs/00run/SPARK_DRIVER/stderr.gz (not readable: AccessDenied: Access Denied)');
});

test('a job run GetJobRun cannot find is alerted from the event alone', async () => {
  emr.on(GetJobRunCommand).rejects(new ResourceNotFoundException({ message: 'not found', $metadata: {} }));
  const out = await handler({ ...event, detail: { ...event.detail, stateDetails: 'Job run timed out' } });
  expect(out.subject).toBe('[emr-ml dev] job dev-recommender-run-1-train FAILED');
  expect(sns.commandCalls(PublishCommand)[0]!.args[0].input.Message).toContain('Error: (EMR Serverless gave no details)');
  expect(s3.commandCalls(GetObjectCommand)).toHaveLength(0);
});

test('another event is rejected naming the field', async () => {
  await expect(handler({ ...event, 'detail-type': 'Step Functions Execution Status Change' })).rejects.toThrow(/event\.detail-type/);
  await expect(handler({ ...event, detail: { state: 'FAILED' } })).rejects.toThrow(/event\.detail\.applicationId/);
  expect(sns.commandCalls(PublishCommand)).toHaveLength(0);
});

test('errorTail keeps the last lines, from the last traceback when it is near the end', () => {
  expect(errorTail('a\nb\nc\n', 2)).toBe('b\nc');
  expect(errorTail('x\nTraceback (most recent call last):\n  f\nE: boom', 2)).toBe('Traceback (most recent call last):\n  f\nE: boom');
});
