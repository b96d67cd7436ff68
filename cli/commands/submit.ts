import { GetJobRunCommand, StartJobRunCommand } from '@aws-sdk/client-emr-serverless';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadStageConfig } from '../../lib/config/stage-config';
import { cost, UnknownPriceError } from '../../lib/cost/cost';
import { getJobDefinition } from '../../lib/jobs/catalog';
import { describeJobRun, toSdkStartJobRunInput } from '../../lib/jobs/job-request-builder';
import { CURRENT_MANIFEST_KEY, parseManifest } from '../../lib/jobs/manifest';
import type { CliContext } from '../context';
import { formatSeconds } from '../duration';
import { CliError } from '../errors';
import { requireOutput } from '../stage-outputs';
import { loadLocalJobRunner, type LocalJobRunner } from '../local';
import { fetchDriverLog, localDriverLog } from './logs';

export interface SubmitOptions {
  readonly wait?: boolean;
  readonly showStdout?: boolean;
  readonly name?: string;
}

const camel = (flag: string) => flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/**
 * Job CLI tokens (`--input s3://… --max-iter 5 --implicit-prefs`) → the builder's camelCase arguments
 * (`{input: 's3://…', maxIter: 5, implicitPrefs: true}`); for a job with a subcommand (drift) the first bare
 * token is the action.
 */
export function parseJobTokens(job: string, tokens: readonly string[]): Record<string, unknown> {
  const definition = getJobDefinition(job);
  const args: Record<string, unknown> = {};
  let i = 0;
  if (definition.subcommandArg) {
    const action = tokens[0];
    if (!action || action.startsWith('-')) {
      throw new CliError(`Job "${job}" needs a subcommand first (e.g. emrpipe submit ${job} <action> -- --flag value).`, 2);
    }
    args[definition.subcommandArg] = action;
    i = 1;
  }
  for (; i < tokens.length; i += 1) {
    const token = tokens[i]!;
    if (!token.startsWith('--') || token === '--') throw new CliError(`Unexpected job argument "${token}": job arguments are --flag value pairs.`, 2);
    const eq = token.indexOf('=');
    const flag = eq > 0 ? token.slice(2, eq) : token.slice(2);
    const next = tokens[i + 1];
    let value: unknown;
    if (eq > 0) value = token.slice(eq + 1);
    else if (next === undefined || next.startsWith('--')) value = true;
    else {
      value = next;
      i += 1;
    }
    if (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value)) value = Number(value);
    args[camel(flag)] = value;
  }
  return args;
}

function readStageConfig(cwd: string, stage: string) {
  let context: Record<string, unknown> = {};
  try {
    context = (JSON.parse(readFileSync(join(cwd, 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> }).context ?? {};
  } catch {
    // no cdk.json in this directory: every stage setting takes its default
    context = { stages: { [stage]: {} } };
  }
  return loadStageConfig((key) => (key === 'stage' ? stage : context[key]));
}

const TERMINAL = new Set(['SUCCESS', 'FAILED', 'CANCELLED']);

function runName(ctx: CliContext, options: SubmitOptions): string {
  const stamp = ctx.io.now().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  return options.name ?? `cli-${stamp}`;
}

/** `submit --local`: the same request, run to completion by local spark-submit (always waits). */
async function submitLocally(ctx: CliContext, job: string, args: Record<string, unknown>, options: SubmitOptions, runner?: LocalJobRunner): Promise<number> {
  const run = runner ?? (await loadLocalJobRunner());
  const executionName = runName(ctx, options);
  const step = args.action ? `${job}-${String(args.action)}` : job;
  ctx.io.out(`Running ${job} locally (stage ${ctx.stage} settings, no AWS)…`);
  const { jobRun, logFile, resultUri } = await run({ job, step, args, stage: ctx.stage, cwd: ctx.io.cwd, executionName, ...ctx.localRuntime });
  const jobRunId = String(jobRun.JobRunId ?? '');
  const state = String(jobRun.State ?? 'UNKNOWN');
  const seconds = Number(jobRun.TotalExecutionDurationSeconds ?? 0);
  const cpuSeconds = Number((jobRun.Local as { cpuSeconds?: number } | undefined)?.cpuSeconds ?? 0);
  ctx.io.out(`Job run ${jobRunId}: ${state} in ${formatSeconds(seconds)} (${cpuSeconds.toFixed(1)} CPU seconds; local runs cost $0).`);
  ctx.io.out(`Result: ${resultUri}`);
  ctx.io.out(`Log: ${logFile}`);
  if (options.showStdout && jobRunId) {
    ctx.io.out('--- driver stdout ---');
    ctx.io.out(localDriverLog(ctx.localRoot, jobRunId, 'stdout'));
  }
  if (state === 'SUCCESS') return 0;
  throw new CliError(`Local job run ${jobRunId} ended ${state}${jobRun.StateDetails ? `: ${String(jobRun.StateDetails).slice(0, 300)}` : ''}. Its driver output is in ${logFile}.`);
}

export async function submitCommand(
  ctx: CliContext,
  job: string,
  tokens: readonly string[],
  options: SubmitOptions,
  localRunner?: LocalJobRunner,
): Promise<number> {
  const args = parseJobTokens(job, tokens);
  if (ctx.options.local) return submitLocally(ctx, job, args, options, localRunner);
  const outputs = await ctx.outputs();
  const config = readStageConfig(ctx.io.cwd, ctx.stage);
  const artifactsBucket = requireOutput(outputs, 'artifactsBucket');
  let manifestText: string;
  try {
    const res = await ctx.s3.send(new GetObjectCommand({ Bucket: artifactsBucket, Key: CURRENT_MANIFEST_KEY }));
    manifestText = (await res.Body?.transformToString()) ?? '';
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') {
      throw new CliError(`Stage ${ctx.stage} has no published artifacts (s3://${artifactsBucket}/${CURRENT_MANIFEST_KEY} is missing); run "npm run package" and deploy first.`);
    }
    throw err;
  }
  const manifest = parseManifest(JSON.parse(manifestText), `s3://${artifactsBucket}/${CURRENT_MANIFEST_KEY}`);
  const executionName = runName(ctx, options);
  const step = args.action ? `${job}-${String(args.action)}` : job;
  const described = describeJobRun({
    job,
    step,
    args,
    execution: { id: `emrpipe:${ctx.stage}:${executionName}:${randomUUID()}`, name: executionName },
    manifest,
    env: {
      stage: ctx.stage,
      applicationId: requireOutput(outputs, 'applicationId'),
      jobRoleArn: requireOutput(outputs, 'jobRoleArn'),
      artifactsBucket,
      logsBucket: requireOutput(outputs, 'logsBucket'),
      lakeBucket: requireOutput(outputs, 'lakeBucket'),
      modelsBucket: requireOutput(outputs, 'modelsBucket'),
      jobTimeoutMinutes: config.jobTimeoutMinutes,
      ...(outputs.dbSecretArn ? { dbSecretArn: outputs.dbSecretArn } : {}),
    },
  });
  const input = toSdkStartJobRunInput(described.request);
  const started = await ctx.emr.send(new StartJobRunCommand(input));
  const jobRunId = started.jobRunId!;
  const applicationId = input.applicationId;
  ctx.io.out(`Submitted ${job} as job run ${jobRunId} (${input.name}) on application ${applicationId}.`);
  ctx.io.out(`Result: ${String(described.args.resultUri)}`);
  if (!options.wait && !options.showStdout) {
    ctx.io.out(`Follow it with: emrpipe status ${jobRunId}`);
    return 0;
  }
  let lastState: string | undefined;
  let run;
  for (;;) {
    run = (await ctx.emr.send(new GetJobRunCommand({ applicationId, jobRunId }))).jobRun;
    if (run?.state !== lastState) {
      ctx.io.out(`${ctx.io.now().toISOString().slice(11, 19)} ${run?.state}${run?.stateDetails ? ` — ${run.stateDetails}` : ''}`);
      lastState = run?.state;
    }
    if (run?.state && TERMINAL.has(run.state)) break;
    await ctx.io.sleep(ctx.pollMs);
  }
  if (run?.billedResourceUtilization) {
    try {
      const priced = cost(run.billedResourceUtilization, await ctx.region(), config.architecture);
      ctx.io.out(`Cost: $${priced.costUsd.toFixed(4)} (${priced.vCPUHour} vCPU-h, ${priced.memoryGBHour} GB-h, ${priced.storageGBHour} storage GB-h${run.totalExecutionDurationSeconds !== undefined ? `, ${formatSeconds(run.totalExecutionDurationSeconds)}` : ''}).`);
    } catch (err) {
      if (!(err instanceof UnknownPriceError)) throw err;
      ctx.io.err(err.message);
    }
  }
  if (options.showStdout) {
    ctx.io.out('--- driver stdout ---');
    ctx.io.out(await fetchDriverLog(ctx, applicationId, jobRunId, 'stdout'));
  }
  if (run?.state === 'SUCCESS') return 0;
  throw new CliError(`Job run ${jobRunId} ended ${run?.state}${run?.stateDetails ? `: ${run.stateDetails}` : ''}. See its driver log with: emrpipe logs ${jobRunId} --stderr`);
}
