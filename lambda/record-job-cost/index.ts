import { Logger } from '@aws-lambda-powertools/logger';
import { MetricUnit, Metrics } from '@aws-lambda-powertools/metrics';
import { EMRServerlessClient, GetJobRunCommand } from '@aws-sdk/client-emr-serverless';
import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import * as z from 'zod';
import { cost, UnknownPriceError, type JobCost } from '../../lib/cost/cost';
import { JOB_RUN_METRIC_DIMENSION, JOB_RUN_METRICS_NAMESPACE } from '../../lib/jobs/job-run-metrics';

/**
 * Records what one job run cost, right after the run (a state-machine step after each `startJobRun.sync` task).
 *
 * Input: `{"jobRun": <the .sync task output, or {applicationId, jobRunId}>, "resultUri"?: "s3://…", "step"?: "…"}`
 * (top-level `applicationId`/`jobRunId` also work). Key case does not matter (`JobRunId` = `jobRunId`).
 * The run's `billedResourceUtilization`, `totalExecutionDurationSeconds` and `state` come from GetJobRun.
 *
 * Output: `{applicationId, jobRunId, step, state, vCPUHour, memoryGBHour, storageGBHour, costUsd, breakdownUsd,
 * region, architecture, priceSource, priceDate, wallSeconds, createdAt, startedAt, endedAt, queuedSeconds,
 * startLatencySeconds, runSeconds, attempt}`. When `resultUri` names an existing result JSON, the same record is
 * added to it as `resources` (one PUT, idempotent).
 *
 * The run's timing (GetJobRun `createdAt`/`startedAt`/`endedAt`, `queuedDurationMilliseconds`,
 * `totalExecutionDurationSeconds`) also goes out as CloudWatch metrics in embedded metric format (namespace
 * lib/jobs/job-run-metrics.ts, dimension `Step`): `QueuedSeconds`, `StartLatencySeconds` (submitted →
 * running: queue plus worker start), `RunSeconds` — the dashboard graphs them.
 *
 * Environment: `ARCHITECTURE` (X86_64 | ARM64, default X86_64), `AWS_REGION` (set by Lambda).
 */

const logger = new Logger({ serviceName: 'record-job-cost' });
const metrics = new Metrics({ namespace: JOB_RUN_METRICS_NAMESPACE, serviceName: 'record-job-cost' });
const emr = new EMRServerlessClient({});
const s3 = new S3Client({});

const InputSchema = z
  .object({
    jobRun: z.record(z.string(), z.unknown()).optional(),
    applicationId: z.string().optional(),
    jobRunId: z.string().optional(),
    resultUri: z.string().regex(/^s3:\/\/[^/]+\/.+/, 'must be an s3://bucket/key URI').optional(),
    step: z.string().optional(),
  })
  .passthrough();

export type RecordJobCostInput = z.input<typeof InputSchema>;

export interface RecordJobCostOutput extends Omit<JobCost, 'costUsd'> {
  readonly applicationId: string;
  readonly jobRunId: string;
  readonly step: string | null;
  readonly state: string | null;
  /** null when the price table has no price for the region/architecture (see `pricingError`). */
  readonly costUsd: number | null;
  readonly pricingError?: string;
  readonly resultUpdated: boolean;
  /** Submission (GetJobRun `createdAt`), ISO 8601. */
  readonly createdAt: string | null;
  /** When the run started running (`startedAt`). */
  readonly startedAt: string | null;
  readonly endedAt: string | null;
  /** Time spent QUEUED in the application (`queuedDurationMilliseconds` / 1000). */
  readonly queuedSeconds: number | null;
  /** Submitted → running (`startedAt − createdAt`): the queue plus the workers' start. */
  readonly startLatencySeconds: number | null;
  /** Run time (`totalExecutionDurationSeconds`). */
  readonly runSeconds: number | null;
  /** The attempt that ended the run (retry policy; 1 without retries). */
  readonly attempt: number | null;
}

type JobRunTiming = Pick<RecordJobCostOutput, 'createdAt' | 'startedAt' | 'endedAt' | 'queuedSeconds' | 'startLatencySeconds' | 'runSeconds' | 'attempt'>;

/** The timing fields of a GetJobRun `jobRun`. */
export function jobRunTiming(jobRun: { createdAt?: Date; startedAt?: Date; endedAt?: Date; queuedDurationMilliseconds?: number; totalExecutionDurationSeconds?: number; attempt?: number } | undefined): JobRunTiming {
  const iso = (d: Date | undefined) => (d ? new Date(d).toISOString() : null);
  const created = jobRun?.createdAt ? new Date(jobRun.createdAt).getTime() : undefined;
  const started = jobRun?.startedAt ? new Date(jobRun.startedAt).getTime() : undefined;
  return {
    createdAt: iso(jobRun?.createdAt),
    startedAt: iso(jobRun?.startedAt),
    endedAt: iso(jobRun?.endedAt),
    queuedSeconds: jobRun?.queuedDurationMilliseconds !== undefined ? jobRun.queuedDurationMilliseconds / 1000 : null,
    startLatencySeconds: created !== undefined && started !== undefined ? Math.max(0, (started - created) / 1000) : null,
    runSeconds: jobRun?.totalExecutionDurationSeconds ?? null,
    attempt: jobRun?.attempt ?? null,
  };
}

function publishTimingMetrics(step: string | null, timing: JobRunTiming): void {
  metrics.addDimension(JOB_RUN_METRIC_DIMENSION, step ?? 'unknown');
  if (timing.queuedSeconds !== null) metrics.addMetric('QueuedSeconds', MetricUnit.Seconds, timing.queuedSeconds);
  if (timing.startLatencySeconds !== null) metrics.addMetric('StartLatencySeconds', MetricUnit.Seconds, timing.startLatencySeconds);
  if (timing.runSeconds !== null) metrics.addMetric('RunSeconds', MetricUnit.Seconds, timing.runSeconds);
  metrics.publishStoredMetrics();
}

export class RecordJobCostInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValidationError';
  }
}

/** Case-insensitive lookup of `key` in `obj`, then in its `JobRun` member (the .sync/GetJobRun shape). */
function pick(obj: Record<string, unknown> | undefined, key: string): unknown {
  if (!obj) return undefined;
  const wanted = key.toLowerCase();
  for (const [k, v] of Object.entries(obj)) if (k.toLowerCase() === wanted) return v;
  const nested = Object.entries(obj).find(([k]) => k.toLowerCase() === 'jobrun')?.[1];
  return nested && typeof nested === 'object' ? pick(nested as Record<string, unknown>, key) : undefined;
}

function parseS3Uri(uri: string): { Bucket: string; Key: string } {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!m) throw new RecordJobCostInputError(`resultUri: must be an s3://bucket/key URI, got "${uri}"`);
  return { Bucket: m[1]!, Key: m[2]! };
}

async function addToResult(resultUri: string, resources: RecordJobCostOutput): Promise<boolean> {
  const location = parseS3Uri(resultUri);
  let body: string;
  try {
    const res = await s3.send(new GetObjectCommand(location));
    body = (await res.Body?.transformToString()) ?? '';
  } catch (err) {
    if (err instanceof NoSuchKey || (err as { name?: string }).name === 'NoSuchKey') {
      logger.warn('No result JSON to annotate', { resultUri });
      return false;
    }
    throw err;
  }
  let result: Record<string, unknown>;
  try {
    result = JSON.parse(body) as Record<string, unknown>;
  } catch {
    logger.warn('Result JSON is not valid JSON; left unchanged', { resultUri });
    return false;
  }
  const { resultUpdated: _ignored, ...record } = resources;
  result.resources = record;
  await s3.send(
    new PutObjectCommand({ ...location, Body: JSON.stringify(result, null, 2), ContentType: 'application/json' }),
  );
  return true;
}

export async function handler(event: unknown): Promise<RecordJobCostOutput> {
  const parsed = InputSchema.safeParse(event ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new RecordJobCostInputError(`${issue.path.join('.') || 'input'}: ${issue.message}`);
  }
  const input = parsed.data;
  const source = (input.jobRun ?? input) as Record<string, unknown>;
  const applicationId = (pick(source, 'applicationId') ?? input.applicationId) as string | undefined;
  const jobRunId = (pick(source, 'jobRunId') ?? input.jobRunId) as string | undefined;
  if (typeof applicationId !== 'string' || !applicationId) throw new RecordJobCostInputError('applicationId: required (in jobRun or at top level)');
  if (typeof jobRunId !== 'string' || !jobRunId) throw new RecordJobCostInputError('jobRunId: required (in jobRun or at top level)');
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const architecture = process.env.ARCHITECTURE ?? 'X86_64';

  let record: Omit<RecordJobCostOutput, 'resultUpdated'>;
  const { jobRun } = await emr.send(new GetJobRunCommand({ applicationId, jobRunId }));
  const billed = jobRun?.billedResourceUtilization ?? {};
  const wallSeconds = jobRun?.totalExecutionDurationSeconds;
  const timing = jobRunTiming(jobRun);
  const base = { applicationId, jobRunId, step: input.step ?? null, state: jobRun?.state ?? null, ...timing };
  try {
    record = { ...base, ...cost(billed, region, architecture, wallSeconds !== undefined ? { wallSeconds } : {}) };
  } catch (err) {
    if (!(err instanceof UnknownPriceError)) throw err;
    const unpriced = cost(billed, 'us-east-1', 'X86_64', wallSeconds !== undefined ? { wallSeconds } : {});
    record = { ...base, ...unpriced, region, architecture: architecture as JobCost['architecture'], costUsd: null, breakdownUsd: { vCPU: 0, memory: 0, storage: 0 }, pricingError: err.message };
  }
  const resultUpdated = input.resultUri ? await addToResult(input.resultUri, { ...record, resultUpdated: false }) : false;
  const output: RecordJobCostOutput = { ...record, resultUpdated };
  publishTimingMetrics(output.step, timing);
  logger.info('Job run cost recorded', { applicationId, jobRunId, step: output.step, costUsd: output.costUsd, vCPUHour: output.vCPUHour });
  return output;
}
