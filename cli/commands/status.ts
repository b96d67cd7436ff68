import { GetApplicationCommand, GetJobRunCommand, ListJobRunsCommand } from '@aws-sdk/client-emr-serverless';
import { DescribeExecutionCommand, GetExecutionHistoryCommand, ListExecutionsCommand, type HistoryEvent } from '@aws-sdk/client-sfn';
import { cost, UnknownPriceError } from '../../lib/cost/cost';
import type { CliContext } from '../context';
import { formatSeconds } from '../duration';
import { CliError } from '../errors';
import { PIPELINES, requireOutput } from '../stage-outputs';
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
  if (d.error || d.cause) ctx.io.out(`  error: ${d.error ?? ''}${d.cause ? ` — ${d.cause.slice(0, 500)}` : ''}`);
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
  ctx.io.out(`  created: ${time(jobRun.createdAt)}   updated: ${time(jobRun.updatedAt)}`);
  if (jobRun.totalExecutionDurationSeconds !== undefined) ctx.io.out(`  duration: ${formatSeconds(jobRun.totalExecutionDurationSeconds)}`);
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
  return 0;
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

export async function statusCommand(ctx: CliContext, id: string | undefined): Promise<number> {
  if (ctx.options.local) throw new CliError('status reads a deployed stage; a local run reports its status while it runs.', 2);
  if (!id) return overview(ctx);
  if (id.startsWith('arn:') && id.includes(':execution:')) return executionStatus(ctx, id);
  if (id.startsWith('arn:')) throw new CliError(`"${id}" is not an execution ARN (arn:aws:states:…:execution:…) or a job run id.`, 2);
  return jobRunStatus(ctx, id);
}
