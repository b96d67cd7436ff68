import { GetApplicationCommand, GetJobRunCommand, ListJobRunAttemptsCommand, ListJobRunsCommand, type JobRun, type JobRunAttemptSummary } from '@aws-sdk/client-emr-serverless';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, ListExecutionsCommand, type HistoryEvent } from '@aws-sdk/client-sfn';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cost, UnknownPriceError } from '../../lib/cost/cost';
import type { CliContext } from '../context';
import { formatSeconds } from '../duration';
import { errorSentence } from '../../local/task-errors';
import { CliError } from '../errors';
import { PIPELINES, requireOutput } from '../stage-outputs';
import { driverLogUri } from '../../lib/jobs/job-run-logs';
import { jobRunLogUri } from './logs';
import { printExecutionCost } from './run';

const time = (d: Date | undefined) => (d ? d.toISOString().slice(0, 19).replace('T', ' ') : '-');

async function currentState(ctx: CliContext, executionArn: string): Promise<string | undefined> {
  const history = await ctx.sfn.send(new GetExecutionHistoryCommand({ executionArn, reverseOrder: true, maxResults: 50 }));
  return history.events?.find((e) => e.type?.endsWith('StateEntered'))?.stateEnteredEventDetails?.name;
}

async function executionStatus(ctx: CliContext, executionArn: string): Promise<number> {
  let d;
  try {
    d = await ctx.sfn.send(new DescribeExecutionCommand({ executionArn }));
  } catch (err) {
    if ((err as { name?: string }).name === 'ExecutionDoesNotExist') throw new CliError(`Execution ${executionArn} does not exist.`);
    throw err;
  }
  ctx.io.out(`Execution ${d.name}: ${d.status}`);
  ctx.io.out(`  state machine: ${d.stateMachineArn}`);
  ctx.io.out(`  started: ${time(d.startDate)}   stopped: ${time(d.stopDate)}`);
  if (d.status === 'RUNNING') ctx.io.out(`  current state: ${(await currentState(ctx, executionArn)) ?? '-'}`);
  if (d.error || d.cause) ctx.io.out(`  error: ${errorSentence(d.error, d.cause)}`);
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await ctx.sfn.send(new GetExecutionHistoryCommand({ executionArn, nextToken, includeExecutionData: true, maxResults: 1000 }));
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  await printExecutionCost(ctx, d.output, events);
  return 0;
}

async function jobRunStatus(ctx: CliContext, jobRunId: string): Promise<number> {
  const outputs = await ctx.outputs();
  const applicationId = requireOutput(outputs, 'applicationId');
  let jobRun;
  try {
    jobRun = (await ctx.emr.send(new GetJobRunCommand({ applicationId, jobRunId }))).jobRun;
  } catch (err) {
    if ((err as { name?: string }).name === 'ResourceNotFoundException') {
      throw new CliError(`"${jobRunId}" is neither an execution ARN nor a job run of application ${applicationId} in stage ${ctx.stage}.`);
    }
    throw err;
  }
  if (!jobRun) throw new CliError(`Job run ${jobRunId} was not found.`);
  ctx.io.out(`Job run ${jobRunId} (${jobRun.name ?? 'unnamed'}): ${jobRun.state}`);
  if (jobRun.stateDetails) ctx.io.out(`  details: ${jobRun.stateDetails}`);
  ctx.io.out(`  created: ${time(jobRun.createdAt)}   started: ${time(jobRun.startedAt)}   ended: ${time(jobRun.endedAt)}`);
  const queued = jobRun.queuedDurationMilliseconds !== undefined ? formatSeconds(jobRun.queuedDurationMilliseconds / 1000) : '-';
  const ran = jobRun.totalExecutionDurationSeconds !== undefined ? formatSeconds(jobRun.totalExecutionDurationSeconds) : '-';
  ctx.io.out(`  queued: ${queued}   run time: ${ran}`);
  if (jobRun.billedResourceUtilization) {
    const b = jobRun.billedResourceUtilization;
    let priced = '';
    try {
      priced = `, $${cost(b, await ctx.region(), await applicationArchitecture(ctx, applicationId)).costUsd.toFixed(4)}`;
    } catch (err) {
      if (!(err instanceof UnknownPriceError)) throw err;
    }
    ctx.io.out(`  billed: ${b.vCPUHour ?? 0} vCPU-h, ${b.memoryGBHour ?? 0} GB-h, ${b.storageGBHour ?? 0} storage GB-h${priced}`);
  }
  await printAttempts(ctx, applicationId, jobRunId, jobRun);
  return 0;
}

/**
 * The job run's attempts (ListJobRunAttempts: one per run of the job under a retry policy, release 7.1+; one for a
 * run without retries) with each attempt's driver log location.
 */
async function printAttempts(ctx: CliContext, applicationId: string, jobRunId: string, jobRun: JobRun): Promise<void> {
  const attempts: JobRunAttemptSummary[] = [];
  try {
    let nextToken: string | undefined;
    do {
      const page = await ctx.emr.send(new ListJobRunAttemptsCommand({ applicationId, jobRunId, nextToken }));
      attempts.push(...(page.jobRunAttempts ?? []));
      nextToken = page.nextToken;
    } while (nextToken);
  } catch (err) {
    const name = (err as { name?: string }).name ?? '';
    // the rest of the status stands without them (an operator without emr-serverless:ListJobRunAttempts)
    if (name === 'AccessDeniedException' || name === 'ValidationException') {
      ctx.io.out(`  attempts: not listed (${name}: ${(err as Error).message})`);
      return;
    }
    throw err;
  }
  if (attempts.length === 0) return;
  attempts.sort((a, b) => (a.attempt ?? 1) - (b.attempt ?? 1));
  const logUri = await jobRunLogUri(ctx, applicationId, jobRunId, jobRun);
  ctx.io.out(`  attempts (${attempts.length}):`);
  for (const a of attempts) {
    const n = a.attempt ?? 1;
    ctx.io.out(`    #${n} ${(a.state ?? '').padEnd(9)} created: ${time(a.createdAt)}   updated: ${time(a.updatedAt)}${a.stateDetails ? `   ${a.stateDetails}` : ''}`);
    ctx.io.out(`       driver log: ${driverLogUri(logUri, applicationId, jobRunId, 'stderr', n)}`);
  }
}

async function applicationArchitecture(ctx: CliContext, applicationId: string): Promise<string> {
  const { application } = await ctx.emr.send(new GetApplicationCommand({ applicationId }));
  return application?.architecture ?? 'X86_64';
}

async function overview(ctx: CliContext): Promise<number> {
  const outputs = await ctx.outputs();
  ctx.io.out(`Stage ${ctx.stage} (stack ${outputs.stackName})`);
  for (const pipeline of PIPELINES) {
    const arn = outputs.stateMachines[pipeline];
    if (!arn) continue;
    const { executions } = await ctx.sfn.send(new ListExecutionsCommand({ stateMachineArn: arn, maxResults: 5 }));
    ctx.io.out(`${pipeline}:`);
    if (!executions?.length) ctx.io.out('  no executions');
    for (const e of executions ?? []) ctx.io.out(`  ${e.status?.padEnd(9)} ${time(e.startDate)}  ${e.executionArn}`);
  }
  if (outputs.applicationId) {
    const { jobRuns } = await ctx.emr.send(new ListJobRunsCommand({ applicationId: outputs.applicationId, maxResults: 10 }));
    ctx.io.out(`job runs (application ${outputs.applicationId}):`);
    if (!jobRuns?.length) ctx.io.out('  no job runs');
    for (const j of jobRuns ?? []) ctx.io.out(`  ${j.state?.padEnd(9)} ${time(j.createdAt)}  ${j.id}  ${j.name ?? ''}`);
  }
  return 0;
}

interface LocalExecutionFile {
  stateMachine: string;
  executionName: string;
  status: string;
  startedAt: number;
  durationMs?: number;
  error?: string;
  cause?: string;
  logDir?: string;
  steps?: Array<{ name: string; status: string; durationMs?: number; error?: string; logFile?: string }>;
}

/** Local executions: the records the local runner writes to `.local/executions/<state machine>/<execution>.json`. */
export function localStatus(ctx: CliContext, id: string | undefined): number {
  const root = join(ctx.localRoot, 'executions');
  const records: LocalExecutionFile[] = [];
  for (const machine of existsSync(root) ? readdirSync(root) : []) {
    for (const file of readdirSync(join(root, machine)).filter((f) => f.endsWith('.json'))) {
      try {
        records.push(JSON.parse(readFileSync(join(root, machine, file), 'utf8')) as LocalExecutionFile);
      } catch {
        // a record being written concurrently; skip it
      }
    }
  }
  records.sort((a, b) => b.startedAt - a.startedAt);
  const took = (ms: number | undefined) => (ms === undefined ? '' : ` in ${formatSeconds(ms / 1000)}`);
  if (!id) {
    if (records.length === 0) ctx.io.out('No local executions yet (.local/executions/ is empty).');
    for (const r of records.slice(0, 20)) ctx.io.out(`${r.status.padEnd(9)} ${time(new Date(r.startedAt))}  ${r.stateMachine}/${r.executionName}${took(r.durationMs)}`);
    return 0;
  }
  const record = records.find((r) => r.executionName === id || `${r.stateMachine}/${r.executionName}` === id);
  if (!record) throw new CliError(`No local execution named "${id}" under .local/executions/.`);
  ctx.io.out(`Local execution ${record.stateMachine}/${record.executionName}: ${record.status}${took(record.durationMs)}`);
  if (record.error || record.cause) ctx.io.out(`  error: ${errorSentence(record.error, record.cause)}`);
  for (const step of record.steps ?? []) {
    ctx.io.out(`  ${step.status.padEnd(9)} ${step.name}${took(step.durationMs)}${step.error ? ` ${step.error}` : ''}${step.logFile ? `  (${step.logFile})` : ''}`);
  }
  return 0;
}

export async function statusCommand(ctx: CliContext, id: string | undefined): Promise<number> {
  if (ctx.options.local) return localStatus(ctx, id);
  if (!id) return overview(ctx);
  if (id.startsWith('arn:') && id.includes(':execution:')) return executionStatus(ctx, id);
  if (id.startsWith('arn:')) throw new CliError(`"${id}" is not an execution ARN (arn:aws:states:…:execution:…) or a job run id.`, 2);
  return jobRunStatus(ctx, id);
}
