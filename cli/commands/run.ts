import {
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  StartExecutionCommand,
  type DescribeExecutionCommandOutput,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CliContext } from '../context';
import { formatSeconds } from '../duration';
import { errorSentence } from '../../local/task-errors';
import { CliError } from '../errors';
import { runLocalPipeline } from '../local';
import { requireStateMachine } from '../stage-outputs';
import { jobRunOf, printCostOfExecutionOutput, printCostOfJobRuns, type ExecutionJobRun } from './cost';
import { printModelQuality } from '../model-quality';

export interface RunOptions {
  readonly input?: string;
  /** `--input-json`: the input as a JSON string, already parsed (local/cli.ts `parseJsonOption`). */
  readonly inputJson?: unknown;
  readonly wait?: boolean;
  readonly name?: string;
  /** `--local`: print the execution record as JSON instead of the steps. */
  readonly json?: boolean;
}

/** The execution input of `--input <file>` or `--input-json <json>` (`{}` when neither). */
export function executionInput(cwd: string, options: Pick<RunOptions, 'input' | 'inputJson'>): Record<string, unknown> {
  if (options.inputJson === undefined) return readInputFile(cwd, options.input);
  if (options.input) throw new CliError('Give the execution input either as --input <file> or as --input-json <json>, not both.', 2);
  const value = options.inputJson;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CliError('--input-json must be a JSON object, like {"rank": 32}.', 2);
  }
  return value as Record<string, unknown>;
}

/** Reads and parses the execution input file (`{}` when none). */
export function readInputFile(cwd: string, file: string | undefined): Record<string, unknown> {
  if (!file) return {};
  const path = resolve(cwd, file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new CliError(`Cannot read the input file ${file}: it does not exist or is not readable.`, 2);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CliError(`The input file ${file} is not valid JSON (${(err as Error).message}).`, 2);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CliError(`The input file ${file} must hold a JSON object, like {"rank": 32}.`, 2);
  }
  return value as Record<string, unknown>;
}

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED', 'PENDING_REDRIVE']);

/** One line per state transition / failure in an execution's history. */
export function describeEvent(event: HistoryEvent, enteredAt: Map<string, Date>): string | undefined {
  const type = event.type ?? '';
  const at = event.timestamp ? new Date(event.timestamp) : undefined;
  if (type.endsWith('StateEntered') && event.stateEnteredEventDetails?.name) {
    const name = event.stateEnteredEventDetails.name;
    if (at) enteredAt.set(name, at);
    return `→ ${name}`;
  }
  if (type.endsWith('StateExited') && event.stateExitedEventDetails?.name) {
    const name = event.stateExitedEventDetails.name;
    const start = enteredAt.get(name);
    const took = start && at ? ` (${formatSeconds((at.getTime() - start.getTime()) / 1000)})` : '';
    return `✓ ${name}${took}`;
  }
  const failure =
    event.taskFailedEventDetails ??
    event.lambdaFunctionFailedEventDetails ??
    event.executionFailedEventDetails ??
    event.executionTimedOutEventDetails ??
    event.executionAbortedEventDetails;
  if (failure && /Failed|TimedOut|Aborted/.test(type)) {
    // the error's name only: its sentence is printed once, when the execution has ended
    return `✗ ${type}${failure.error ? ` ${failure.error}` : ''}`;
  }
  if (type === 'ExecutionSucceeded') return '✓ execution succeeded';
  return undefined;
}

/** The job runs a history's `emr-serverless:startJobRun.sync` tasks started, in order. */
export function jobRunsOfEvents(events: readonly HistoryEvent[]): ExecutionJobRun[] {
  const byId = new Map<number, HistoryEvent>();
  for (const e of events) if (e.id !== undefined) byId.set(e.id, e);
  const stateOf = (event: HistoryEvent): string => {
    // walk back to the TaskStateEntered event of the same task
    let cursor: HistoryEvent | undefined = event;
    while (cursor && !cursor.stateEnteredEventDetails && cursor.previousEventId !== undefined) cursor = byId.get(cursor.previousEventId);
    return cursor?.stateEnteredEventDetails?.name ?? 'job run';
  };
  const runs: ExecutionJobRun[] = [];
  for (const e of events) {
    const details = e.taskSucceededEventDetails ?? e.taskFailedEventDetails;
    if (!details || details.resourceType !== 'emr-serverless' || !details.resource?.startsWith('startJobRun')) continue;
    const text = e.taskSucceededEventDetails?.output ?? e.taskFailedEventDetails?.cause;
    const run = jobRunOf(stateOf(e), text);
    if (run && !runs.some((r) => r.jobRunId === run.jobRunId)) runs.push(run);
  }
  return runs;
}

/** Prints the cost of an ended execution: its output's `costs`, else its job runs priced from GetJobRun. */
export async function printExecutionCost(ctx: CliContext, output: string | undefined, events: readonly HistoryEvent[]): Promise<void> {
  if (printCostOfExecutionOutput(ctx, output)) return;
  await printCostOfJobRuns(ctx, jobRunsOfEvents(events));
}

/** Streams an execution's state transitions until it ends; returns its final description and full history. */
export async function followExecution(ctx: CliContext, executionArn: string): Promise<DescribeExecutionCommandOutput & { events: HistoryEvent[] }> {
  const seen = new Set<number>();
  const enteredAt = new Map<string, Date>();
  const events: HistoryEvent[] = [];
  for (;;) {
    const description = await ctx.sfn.send(new DescribeExecutionCommand({ executionArn }));
    let nextToken: string | undefined;
    do {
      const page = await ctx.sfn.send(new GetExecutionHistoryCommand({ executionArn, nextToken, includeExecutionData: true, maxResults: 1000 }));
      for (const event of page.events ?? []) {
        if (event.id === undefined || seen.has(event.id)) continue;
        seen.add(event.id);
        events.push(event);
        const line = describeEvent(event, enteredAt);
        if (line) ctx.io.out(line);
      }
      nextToken = page.nextToken;
    } while (nextToken);
    if (description.status && TERMINAL.has(description.status)) return { ...description, events };
    await ctx.io.sleep(ctx.pollMs);
  }
}

export async function runCommand(ctx: CliContext, pipeline: string, options: RunOptions): Promise<number> {
  const input = executionInput(ctx.io.cwd, options);
  if (ctx.options.local) return runLocalPipeline(ctx, pipeline, input, { ...(options.name ? { executionName: options.name } : {}), ...(options.json ? { json: true } : {}) });
  if (options.json) throw new CliError('--json prints a local execution record: use it with --local (emrpipe --local run <pipeline> --json).', 2);
  const outputs = await ctx.outputs();
  const stateMachineArn = requireStateMachine(outputs, pipeline);
  const started = await ctx.sfn.send(
    new StartExecutionCommand({ stateMachineArn, input: JSON.stringify(input), ...(options.name ? { name: options.name } : {}) }),
  );
  const executionArn = started.executionArn!;
  ctx.io.out(`Started ${pipeline} in stage ${ctx.stage}: ${executionArn}`);
  if (!options.wait) {
    ctx.io.out(`Follow it with: emrpipe status ${executionArn}`);
    return 0;
  }
  const final = await followExecution(ctx, executionArn);
  printModelQuality(ctx, final.output === undefined ? undefined : JSON.parse(final.output));
  await printExecutionCost(ctx, final.output, final.events);
  if (final.status === 'SUCCEEDED') {
    ctx.io.out(`Execution ${final.name ?? executionArn} SUCCEEDED.`);
    return 0;
  }
  const sentence = errorSentence(final.error, final.cause);
  throw new CliError(`Execution ${final.name ?? executionArn} ended ${final.status}${sentence ? ` (${sentence})` : ''}.`);
}
