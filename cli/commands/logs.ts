import { GetApplicationCommand, GetJobRunCommand, type JobRun } from '@aws-sdk/client-emr-serverless';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { driverLogUri } from '../../lib/jobs/job-run-logs';
import type { CliContext } from '../context';
import { CliError } from '../errors';
import { requireOutput } from '../stage-outputs';

export interface LogsOptions {
  readonly stderr?: boolean;
}

function splitS3Uri(uri: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (!m) throw new CliError(`The job run's log location "${uri}" is not an s3:// URI.`);
  return { bucket: m[1]!, key: m[2] ?? '' };
}

/**
 * The S3 log URI a job run writes to: its own override, else the application's, else the stage's logs bucket.
 * `known`: the job run as GetJobRun already returned it (saves the call).
 */
export async function jobRunLogUri(ctx: CliContext, applicationId: string, jobRunId: string, known?: JobRun): Promise<string> {
  const jobRun = known ?? (await ctx.emr.send(new GetJobRunCommand({ applicationId, jobRunId }))).jobRun;
  const own = jobRun?.configurationOverrides?.monitoringConfiguration?.s3MonitoringConfiguration?.logUri;
  if (own) return own;
  const { application } = await ctx.emr.send(new GetApplicationCommand({ applicationId }));
  const app = application?.monitoringConfiguration?.s3MonitoringConfiguration?.logUri;
  if (app) return app;
  const outputs = await ctx.outputs();
  return `s3://${requireOutput(outputs, 'logsBucket')}/emr/`;
}

/**
 * Where a job run attempt's driver log is: `<logUri>/applications/<appId>/jobs/<jobRunId>/SPARK_DRIVER/<stream>.gz`,
 * attempts after the first under `…/jobs/<jobRunId>/attempts/<n>/SPARK_DRIVER/` (lib/jobs/job-run-logs.ts).
 */
export async function driverLogLocation(
  ctx: CliContext,
  applicationId: string,
  jobRunId: string,
  stream: 'stdout' | 'stderr',
  options: { readonly attempt?: number; readonly jobRun?: JobRun } = {},
): Promise<string> {
  return driverLogUri(await jobRunLogUri(ctx, applicationId, jobRunId, options.jobRun), applicationId, jobRunId, stream, options.attempt ?? 1);
}

/** Driver stdout/stderr of a job run, gunzipped (from {@link driverLogLocation}). */
export async function fetchDriverLog(ctx: CliContext, applicationId: string, jobRunId: string, stream: 'stdout' | 'stderr'): Promise<string> {
  const { bucket, key } = splitS3Uri(await driverLogLocation(ctx, applicationId, jobRunId, stream));
  let bytes: Uint8Array;
  try {
    const res = await ctx.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    bytes = (await res.Body?.transformToByteArray()) ?? new Uint8Array();
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name === 'NoSuchKey' || name === 'NotFound') {
      throw new CliError(`No driver ${stream} for job run ${jobRunId} at s3://${bucket}/${key} yet (EMR Serverless uploads driver logs while the job runs; try again shortly).`);
    }
    throw err;
  }
  try {
    return gunzipSync(bytes).toString('utf8');
  } catch {
    throw new CliError(`The driver ${stream} at s3://${bucket}/${key} is not a gzip file.`);
  }
}

/**
 * A local run's driver log: the local runner writes it where EMR Serverless would, under the local S3 tree
 * (`.local/s3/<logs bucket>/emr/applications/<app>/jobs/<jobRunId>/SPARK_DRIVER/<stream>.gz`).
 */
export function localDriverLog(localRoot: string, jobRunId: string, stream: 'stdout' | 'stderr'): string {
  if (!/^[0-9a-z]{1,64}$/.test(jobRunId)) throw new CliError(`"${jobRunId}" is not a job run id.`, 2);
  const s3Root = join(localRoot, 's3');
  const list = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);
  for (const bucket of list(s3Root)) {
    const apps = join(s3Root, bucket, 'emr', 'applications');
    for (const app of list(apps)) {
      const file = join(apps, app, 'jobs', jobRunId, 'SPARK_DRIVER', `${stream}.gz`);
      if (existsSync(file)) return gunzipSync(readFileSync(file)).toString('utf8');
    }
  }
  throw new CliError(`No local driver ${stream} for job run ${jobRunId} under .local/s3/*/emr/applications/ (run a pipeline with --local first).`);
}

export async function logsCommand(ctx: CliContext, jobRunId: string, options: LogsOptions): Promise<number> {
  if (ctx.options.local) {
    ctx.io.out(localDriverLog(ctx.localRoot, jobRunId, options.stderr ? 'stderr' : 'stdout'));
    return 0;
  }
  const applicationId = requireOutput(await ctx.outputs(), 'applicationId');
  const text = await fetchDriverLog(ctx, applicationId, jobRunId, options.stderr ? 'stderr' : 'stdout');
  ctx.io.out(text);
  return 0;
}
