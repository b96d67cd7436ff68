import { EMRServerlessClient, GetJobRunCommand, type JobRun } from '@aws-sdk/client-emr-serverless';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { gunzipSync } from 'node:zlib';
import * as z from 'zod';
import { driverLogUri } from '../../lib/jobs/job-run-logs';
import { createLogger, parseEvent, parseS3Uri, requireEnv } from '../shared/handler-kit';

/**
 * Target of the "job run FAILED" EventBridge rule (PipelineMonitoring): publishes an alert that names the cause —
 * the run's `stateDetails`, the last lines of the driver's stderr (where Spark and a Python traceback end up), the
 * log location, and the `emrpipe logs` command that prints the whole log — instead of the event's bare ids.
 *
 * Event: `EMR Serverless Job Run State Change` (`detail.{applicationId, jobRunId, jobRunName, state}`).
 * Environment: `ALERTS_TOPIC_ARN`, `STAGE`.
 * Reading the job run or its log is best effort: an alert always goes out, with what could be read.
 */

const logger = createLogger('notify-job-failure');
const emr = new EMRServerlessClient({});
const s3 = new S3Client({});
const sns = new SNSClient({});

const EventSchema = z.object({
  'detail-type': z.literal('EMR Serverless Job Run State Change'),
  detail: z
    .object({
      applicationId: z.string().min(1),
      jobRunId: z.string().min(1),
      jobRunName: z.string().optional(),
      state: z.string(),
      stateDetails: z.string().optional(),
    })
    .passthrough(),
});

/** Lines of the driver's stderr the alert carries (SNS messages stay far below their 256 KB). */
export const STDERR_TAIL_LINES = 25;
const SUBJECT_LIMIT = 100;

export interface JobFailureAlert {
  readonly subject: string;
  readonly message: string;
}

/** The last `lines` lines of a log, from the last Python traceback when there is one. */
export function errorTail(log: string, lines = STDERR_TAIL_LINES): string {
  const all = log.replace(/\s+$/, '').split('\n');
  const traceback = all.map((l) => l.startsWith('Traceback (most recent call last)')).lastIndexOf(true);
  const from = traceback >= 0 && all.length - traceback <= lines * 2 ? traceback : Math.max(0, all.length - lines);
  return all.slice(from).slice(-lines * 2).join('\n');
}

/** The alert for a failed job run (pure: what the handler read goes in). */
export function jobFailureAlert(input: {
  readonly stage: string;
  readonly applicationId: string;
  readonly jobRunId: string;
  readonly jobRun?: JobRun;
  readonly eventName?: string;
  readonly stderrUri?: string;
  readonly stderrTail?: string;
  readonly readError?: string;
}): JobFailureAlert {
  const { jobRun } = input;
  const tags = jobRun?.tags ?? {};
  const name = jobRun?.name ?? input.eventName ?? input.jobRunId;
  const step = tags.step ?? name;
  const subject = `[emr-ml ${input.stage}] job ${step} FAILED`.replace(/[^\x20-\x7e]/g, '_').slice(0, SUBJECT_LIMIT);
  const lines = [
    `EMR Serverless job run ${input.jobRunId} (${name}) of application ${input.applicationId} FAILED${jobRun?.attempt && jobRun.attempt > 1 ? ` on attempt ${jobRun.attempt}` : ''}.`,
    ...(tags.stateMachine && tags.execution ? [`Pipeline: ${tags.stateMachine}, execution ${tags.execution}, step ${step}.`] : []),
    '',
    `Error: ${jobRun?.stateDetails || '(EMR Serverless gave no details)'}`,
  ];
  if (input.stderrTail) lines.push('', `Last lines of the driver's stderr (${input.stderrUri}):`, input.stderrTail);
  else if (input.stderrUri) lines.push('', `Driver log: ${input.stderrUri}${input.readError ? ` (not readable: ${input.readError})` : ''}`);
  lines.push('', `Whole log: npx emrpipe logs ${input.jobRunId} --stderr --stage ${input.stage}`);
  return { subject, message: lines.join('\n') };
}

async function readStderr(uri: string): Promise<string> {
  const { bucket, key } = parseS3Uri(uri, 'log location');
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const bytes = (await res.Body?.transformToByteArray()) ?? new Uint8Array();
  return gunzipSync(bytes).toString('utf8');
}

export async function handler(event: unknown): Promise<{ messageId: string | undefined; subject: string }> {
  const { detail } = parseEvent(EventSchema, event);
  const stage = requireEnv('STAGE');
  const topicArn = requireEnv('ALERTS_TOPIC_ARN');
  const base = { stage, applicationId: detail.applicationId, jobRunId: detail.jobRunId, eventName: detail.jobRunName };

  let jobRun: JobRun | undefined;
  try {
    jobRun = (await emr.send(new GetJobRunCommand({ applicationId: detail.applicationId, jobRunId: detail.jobRunId }))).jobRun;
  } catch (error) {
    logger.warn('GetJobRun failed; alerting with the event alone', { error: (error as Error).message });
  }
  if (jobRun && !jobRun.stateDetails && detail.stateDetails) jobRun = { ...jobRun, stateDetails: detail.stateDetails };
  const logUri = jobRun?.configurationOverrides?.monitoringConfiguration?.s3MonitoringConfiguration?.logUri;
  const stderrUri = logUri ? driverLogUri(logUri, detail.applicationId, detail.jobRunId, 'stderr', jobRun?.attempt ?? 1) : undefined;
  let stderrTail: string | undefined;
  let readError: string | undefined;
  if (stderrUri) {
    try {
      stderrTail = errorTail(await readStderr(stderrUri));
    } catch (error) {
      readError = `${(error as Error).name}: ${(error as Error).message}`;
    }
  }
  const alert = jobFailureAlert({ ...base, jobRun, stderrUri, stderrTail, readError });
  const published = await sns.send(new PublishCommand({ TopicArn: topicArn, Subject: alert.subject, Message: alert.message }));
  logger.info('Job failure alert published', { jobRunId: detail.jobRunId, subject: alert.subject });
  return { messageId: published.MessageId, subject: alert.subject };
}
