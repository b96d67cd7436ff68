import { EMRServerlessClient, StartJobRunCommand } from '@aws-sdk/client-emr-serverless';
import { S3Client } from '@aws-sdk/client-s3';
import { Logger } from '@aws-lambda-powertools/logger';
import * as z from 'zod';
import { formatIssues } from '../../lib/jobs/catalog';
import { describeJobRun, toSdkStartJobRunInput } from '../../lib/jobs/job-request-builder';
import { ManifestCache, readJobRunEnvironment } from '../shared/job-run-context';

/**
 * Standalone job runs on a schedule (EventBridge Scheduler → this Lambda → EMR Serverless StartJobRun), built by
 * the same builder as the state machines. The schedule's input carries the job and the Scheduler context:
 * `{"job", "step", "args", "overrides"?, "schedule": {"name": "<schedule>", "scheduledTime":
 * "<aws.scheduler.scheduled-time>"}}`. The ClientToken derives from schedule name + scheduled time, so a retried
 * invocation (Lambda async retry, Scheduler retry, throttling retry below) never starts a second job run.
 */

export const ScheduledRunEventSchema = z
  .object({
    job: z.string().min(1),
    step: z.string().min(1),
    args: z.record(z.string(), z.unknown()).optional(),
    overrides: z.unknown().optional(),
    schedule: z
      .object({
        name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be a schedule name'),
        scheduledTime: z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, 'must be an ISO-8601 UTC time (<aws.scheduler.scheduled-time>)'),
      })
      .strict(),
  })
  .strict();
export type ScheduledRunEvent = z.infer<typeof ScheduledRunEventSchema>;

export interface StartJobRunResult {
  applicationId: string;
  jobRunId: string;
  arn: string;
  name: string;
  clientToken: string;
  resultUri: string;
}

export interface StartJobRunDeps {
  s3?: S3Client;
  emr?: EMRServerlessClient;
  sleep?: (ms: number) => Promise<void>;
  maxAttempts?: number;
}

const RETRYABLE = new Set(['ThrottlingException', 'TooManyRequestsException', 'ServiceUnavailableException', 'InternalServerException', 'TimeoutError', 'RequestTimeout']);
const logger = new Logger({ serviceName: 'start-job-run' });

export function createHandler(deps: StartJobRunDeps = {}) {
  const manifests = new ManifestCache(deps.s3 ?? new S3Client({}));
  // Retries are ours (below) so they are explicit, bounded and always reuse the same ClientToken.
  const emr = deps.emr ?? new EMRServerlessClient({ maxAttempts: 1 });
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const maxAttempts = deps.maxAttempts ?? 6;

  return async (event: unknown): Promise<StartJobRunResult> => {
    const parsed = ScheduledRunEventSchema.safeParse(event);
    if (!parsed.success) {
      throw Object.assign(new Error(`Invalid scheduled run: ${formatIssues('event', parsed.error)}`), { name: 'ValidationError' });
    }
    const { job, step, args, overrides, schedule } = parsed.data;
    const { env, manifestKey } = readJobRunEnvironment();
    const manifest = await manifests.get(env.artifactsBucket, manifestKey);
    const executionName = `${schedule.name}-${schedule.scheduledTime.replace(/[^0-9TZ]/g, '')}`.slice(0, 80);
    const run = describeJobRun({
      job,
      step,
      args,
      overrides,
      execution: { id: `schedule:${schedule.name}@${schedule.scheduledTime}`, name: executionName },
      manifest,
      env,
    });
    const input = toSdkStartJobRunInput(run.request);

    for (let attempt = 1; ; attempt += 1) {
      try {
        const response = await emr.send(new StartJobRunCommand(input));
        logger.info('job run started', { job, step, jobRunId: response.jobRunId, clientToken: input.clientToken, attempt });
        return {
          applicationId: response.applicationId ?? input.applicationId,
          jobRunId: response.jobRunId!,
          arn: response.arn!,
          name: input.name,
          clientToken: input.clientToken,
          resultUri: String(run.args.resultUri),
        };
      } catch (error) {
        const e = error as Error & { $metadata?: { httpStatusCode?: number }; $retryable?: unknown };
        const retryable = RETRYABLE.has(e.name) || (e.$metadata?.httpStatusCode ?? 0) >= 500 || Boolean(e.$retryable);
        if (!retryable || attempt >= maxAttempts) {
          logger.error('StartJobRun failed', { job, step, attempt, error: e.name, message: e.message });
          throw error;
        }
        // Full-jitter exponential backoff: 0.2 s, 0.4 s, … capped at 10 s.
        const delay = Math.round(Math.random() * Math.min(10_000, 200 * 2 ** (attempt - 1)));
        logger.warn('StartJobRun throttled/unavailable; retrying with the same ClientToken', { attempt, error: e.name, delay });
        await sleep(delay);
      }
    }
  };
}

export const handler = createHandler();
