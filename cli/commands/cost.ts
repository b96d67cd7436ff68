import { GetApplicationCommand, GetJobRunCommand, ListJobRunsCommand, type JobRunSummary } from '@aws-sdk/client-emr-serverless';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { cost, sumCosts, UnknownPriceError } from '../../lib/cost/cost';
import { findStringKey } from '../../local/task-errors';
import type { CliContext } from '../context';
import { formatSeconds, parseDuration } from '../duration';
import { requireOutput } from '../stage-outputs';

export interface CostOptions {
  readonly since: string;
  readonly json?: boolean;
}

export interface CostRow {
  readonly run: string;
  /** `<state machine>/<execution>` from the job run's tags (the job-request builder sets them), or `-`. */
  readonly execution: string;
  readonly name: string;
  readonly state: string;
  readonly createdAt: string;
  readonly vCPUHour: number;
  readonly memoryGBHour: number;
  readonly storageGBHour: number;
  readonly costUsd: number;
  /**
   * The run's timing, when known: GetJobRun's `startedAt`/`endedAt` (ISO), `queuedDurationMilliseconds` / 1000,
   * `startedAt − createdAt`, `totalExecutionDurationSeconds` and `attempt` — the fields record-job-cost adds to its
   * cost record (a local result's `resources`). Absent when the source does not carry them.
   */
  readonly startedAt?: string | null;
  readonly endedAt?: string | null;
  readonly queuedSeconds?: number | null;
  readonly startLatencySeconds?: number | null;
  readonly runSeconds?: number | null;
  readonly attempt?: number | null;
}

/** The timing fields of a cost record or a GetJobRun `jobRun` that are present (see {@link CostRow}). */
export type RunTiming = Pick<CostRow, 'startedAt' | 'endedAt' | 'queuedSeconds' | 'startLatencySeconds' | 'runSeconds' | 'attempt'>;

const TIMING_KEYS = ['startedAt', 'endedAt', 'queuedSeconds', 'startLatencySeconds', 'runSeconds', 'attempt'] as const;

/** The timing fields a cost record (record-job-cost output, a result's `resources`) carries. */
export function recordTiming(record: Record<string, unknown>): RunTiming {
  const timing: Record<string, unknown> = {};
  for (const key of TIMING_KEYS) {
    const value = record[key];
    if (value === null || (typeof value === (key.endsWith('At') ? 'string' : 'number'))) timing[key] = value;
  }
  return timing as RunTiming;
}

/** The same fields from GetJobRun's `jobRun` (what record-job-cost derives them from). */
export function jobRunTiming(jobRun: { createdAt?: Date; startedAt?: Date; endedAt?: Date; queuedDurationMilliseconds?: number; totalExecutionDurationSeconds?: number; attempt?: number } | undefined): RunTiming {
  if (!jobRun) return {};
  const created = jobRun.createdAt ? new Date(jobRun.createdAt).getTime() : undefined;
  const started = jobRun.startedAt ? new Date(jobRun.startedAt).getTime() : undefined;
  return {
    ...(jobRun.startedAt ? { startedAt: new Date(jobRun.startedAt).toISOString() } : {}),
    ...(jobRun.endedAt ? { endedAt: new Date(jobRun.endedAt).toISOString() } : {}),
    ...(jobRun.queuedDurationMilliseconds !== undefined ? { queuedSeconds: jobRun.queuedDurationMilliseconds / 1000 } : {}),
    ...(created !== undefined && started !== undefined ? { startLatencySeconds: Math.max(0, (started - created) / 1000) } : {}),
    ...(jobRun.totalExecutionDurationSeconds !== undefined ? { runSeconds: jobRun.totalExecutionDurationSeconds } : {}),
    ...(jobRun.attempt !== undefined ? { attempt: jobRun.attempt } : {}),
  };
}

const TERMINAL_JOB_STATES = new Set(['SUCCESS', 'FAILED', 'CANCELLED']);

const money = (usd: number) => `$${usd.toFixed(usd < 1 ? 4 : 2)}`;
const num = (n: number) => n.toFixed(3);

/** Cost per pipeline execution (job runs grouped by their execution tag), most expensive first. */
export function byExecution(rows: CostRow[]): Array<{ execution: string; runs: number; costUsd: number }> {
  const groups = new Map<string, CostRow[]>();
  for (const row of rows) groups.set(row.execution, [...(groups.get(row.execution) ?? []), row]);
  return [...groups.entries()]
    .map(([execution, group]) => ({ execution, runs: group.length, costUsd: sumCosts(group).costUsd }))
    .sort((a, b) => b.costUsd - a.costUsd || a.execution.localeCompare(b.execution));
}

function printTable(ctx: CliContext, rows: CostRow[], heading: string, json: boolean | undefined): void {
  const total = sumCosts(rows);
  const executions = byExecution(rows);
  if (json) {
    ctx.io.out(JSON.stringify({ runs: rows, executions, total }, null, 2));
    return;
  }
  ctx.io.out(heading);
  if (rows.length === 0) {
    ctx.io.out('No finished job runs in this period.');
    return;
  }
  // timing columns only when some row carries the field (cost records before these fields, other sources)
  const seconds = (n: number | null | undefined) => (typeof n === 'number' ? formatSeconds(n) : '-');
  const minute = (iso: string | null | undefined) => (iso ? iso.slice(0, 16).replace('T', ' ') : '-');
  const timing: Array<{ header: string; cell: (r: CostRow) => string; key: keyof RunTiming; right: boolean }> = [
    { header: 'started', key: 'startedAt', cell: (r) => minute(r.startedAt), right: false },
    { header: 'queued', key: 'queuedSeconds', cell: (r) => seconds(r.queuedSeconds), right: true },
    { header: 'run time', key: 'runSeconds', cell: (r) => seconds(r.runSeconds), right: true },
    { header: 'attempt', key: 'attempt', cell: (r) => (typeof r.attempt === 'number' ? String(r.attempt) : '-'), right: true },
  ];
  const shown = timing.filter((c) => rows.some((r) => r[c.key] !== undefined && r[c.key] !== null));
  const header = ['run', 'name', 'state', 'created', ...shown.map((c) => c.header), 'vCPU-h', 'GB-h', 'storage GB-h', 'cost'];
  const right = [false, false, false, false, ...shown.map((c) => c.right), true, true, true, true];
  const lines = rows.map((r) => [r.run, r.name, r.state, r.createdAt, ...shown.map((c) => c.cell(r)), num(r.vCPUHour), num(r.memoryGBHour), num(r.storageGBHour), money(r.costUsd)]);
  lines.push(['total', `${total.runs} runs`, '', '', ...shown.map(() => ''), num(total.vCPUHour), num(total.memoryGBHour), num(total.storageGBHour), money(total.costUsd)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  ctx.io.out(fmt(header));
  for (const line of lines) ctx.io.out(fmt(line));
  if (executions.length > 1 || (executions.length === 1 && executions[0]!.execution !== '-')) {
    ctx.io.out('By execution:');
    const width = Math.max(...executions.map((e) => e.execution.length));
    for (const e of executions) ctx.io.out(`  ${e.execution.padEnd(width)}  ${String(e.runs).padStart(3)} runs  ${money(e.costUsd)}`);
  }
}

async function cloudRows(ctx: CliContext, sinceMs: number): Promise<{ rows: CostRow[]; unpriced: number; region: string; architecture: string }> {
  const outputs = await ctx.outputs();
  const applicationId = requireOutput(outputs, 'applicationId');
  const region = await ctx.region();
  const { application } = await ctx.emr.send(new GetApplicationCommand({ applicationId }));
  const architecture = application?.architecture ?? 'X86_64';
  const createdAtAfter = new Date(ctx.io.now().getTime() - sinceMs);
  const summaries: JobRunSummary[] = [];
  let nextToken: string | undefined;
  do {
    const page = await ctx.emr.send(new ListJobRunsCommand({ applicationId, createdAtAfter, nextToken, maxResults: 50 }));
    summaries.push(...(page.jobRuns ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  const finished = summaries.filter((s) => s.state && TERMINAL_JOB_STATES.has(s.state));
  const rows: CostRow[] = [];
  let unpriced = 0;
  for (const summary of finished.sort((a, b) => (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0))) {
    const { jobRun } = await ctx.emr.send(new GetJobRunCommand({ applicationId, jobRunId: summary.id! }));
    const billed = jobRun?.billedResourceUtilization ?? {};
    let priced;
    try {
      priced = cost(billed, region, architecture);
    } catch (err) {
      if (!(err instanceof UnknownPriceError)) throw err;
      unpriced += 1;
      priced = { ...cost(billed, 'us-east-1', 'X86_64'), costUsd: 0 };
    }
    const tags = jobRun?.tags ?? {};
    rows.push({
      run: summary.id!,
      execution: tags.execution ? `${tags.stateMachine ?? 'standalone'}/${tags.execution}` : '-',
      name: jobRun?.name ?? summary.name ?? '',
      state: jobRun?.state ?? summary.state ?? '',
      createdAt: (summary.createdAt ?? jobRun?.createdAt)?.toISOString().slice(0, 16).replace('T', ' ') ?? '',
      vCPUHour: priced.vCPUHour,
      memoryGBHour: priced.memoryGBHour,
      storageGBHour: priced.storageGBHour,
      costUsd: priced.costUsd,
      ...jobRunTiming(jobRun),
    });
  }
  return { rows, unpriced, region, architecture };
}

function* walkJson(dir: string): Generator<string> {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walkJson(path);
    else if (entry.name.endsWith('.json')) yield path;
  }
}

/** Local runs: the `resources` record of every job result under `<local tree>/s3/<bucket>/runs/` (`.local/s3/…`). */
export function localRows(localRoot: string, sinceMs: number, now: Date): CostRow[] {
  const s3Root = join(localRoot, 's3');
  const rows: CostRow[] = [];
  let buckets: string[] = [];
  try {
    buckets = readdirSync(s3Root);
  } catch {
    return rows;
  }
  for (const bucket of buckets) {
    const runsDir = join(s3Root, bucket, 'runs');
    for (const file of walkJson(runsDir)) {
      let result: { job?: string; status?: string; startedAt?: string; resources?: Partial<CostRow> & { createdAt?: string | null } };
      try {
        result = JSON.parse(readFileSync(file, 'utf8'));
      } catch {
        continue;
      }
      if (!result.resources) continue;
      // the run's submission (the cost record's createdAt), else the job's own start, else the file's time
      const submitted = result.resources.createdAt ?? result.startedAt;
      const created = submitted ? new Date(submitted) : statSync(file).mtime;
      if (now.getTime() - created.getTime() > sinceMs) continue;
      const run = relative(runsDir, file).replace(/\.json$/, '');
      rows.push({
        run,
        execution: run.includes('/') ? run.slice(0, run.lastIndexOf('/')) : '-',
        name: result.job ?? '',
        state: result.status ?? '',
        createdAt: created.toISOString().slice(0, 16).replace('T', ' '),
        vCPUHour: Number(result.resources.vCPUHour ?? 0),
        memoryGBHour: Number(result.resources.memoryGBHour ?? 0),
        storageGBHour: Number(result.resources.storageGBHour ?? 0),
        costUsd: Number(result.resources.costUsd ?? 0),
        ...recordTiming(result.resources as Record<string, unknown>),
      });
    }
  }
  return rows.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

export async function costCommand(ctx: CliContext, options: CostOptions): Promise<number> {
  const sinceMs = parseDuration(options.since);
  if (ctx.options.local) {
    const rows = localRows(ctx.localRoot, sinceMs, ctx.io.now());
    printTable(ctx, rows, `Local runs in the last ${options.since} (not billed; priced as EMR Serverless would bill the use measured on this machine):`, options.json);
    return 0;
  }
  const { rows, unpriced, region, architecture } = await cloudRows(ctx, sinceMs);
  printTable(ctx, rows, `EMR Serverless job runs of stage ${ctx.stage} in the last ${options.since} (${region}, ${architecture}, on-demand prices):`, options.json);
  if (unpriced > 0) ctx.io.err(`${unpriced} job runs could not be priced: lib/cost/price-table.ts has no prices for ${region}/${architecture}.`);
  return 0;
}

/** Prints the `costs` an execution's output carries (one record per job step), if any. */
export function printCostOfExecutionOutput(ctx: CliContext, output: string | undefined): boolean {
  if (!output) return false;
  let parsed: unknown;
  try {
    parsed = JSON.parse(output);
  } catch {
    return false;
  }
  const costs = (parsed as { costs?: Record<string, { costUsd?: number | null; vCPUHour?: number }> } | null)?.costs;
  if (!costs || typeof costs !== 'object') return false;
  const entries = Object.entries(costs).filter(([, c]) => c && typeof c === 'object');
  if (entries.length === 0) return false;
  for (const [step, c] of entries) {
    ctx.io.out(`  cost ${step}: ${c.costUsd === null || c.costUsd === undefined ? 'unpriced' : money(c.costUsd)} (${num(c.vCPUHour ?? 0)} vCPU-h)`);
  }
  const total = entries.reduce((sum, [, c]) => sum + (c.costUsd ?? 0), 0);
  ctx.io.out(`Cost of this execution: ${money(total)} across ${entries.length} job runs.`);
  return true;
}

/** A job run an execution started (from its `startJobRun.sync` task events). */
export interface ExecutionJobRun {
  readonly state: string;
  readonly applicationId: string;
  readonly jobRunId: string;
}

/** The job run named by a `.sync` task's output (or by a failure cause that holds the job run JSON). */
export function jobRunOf(state: string, text: string | undefined): ExecutionJobRun | undefined {
  if (!text) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  const applicationId = findStringKey(parsed, 'applicationId');
  const jobRunId = findStringKey(parsed, 'jobRunId');
  return applicationId && jobRunId ? { state, applicationId, jobRunId } : undefined;
}

/**
 * Prices the job runs of an execution straight from GetJobRun (billed utilization × the price table), one line per
 * job run and the total — for executions whose output carries no `costs`.
 */
export async function printCostOfJobRuns(ctx: CliContext, runs: readonly ExecutionJobRun[]): Promise<void> {
  if (runs.length === 0) return;
  const region = await ctx.region();
  const architectures = new Map<string, string>();
  let total = 0;
  let priced = 0;
  for (const run of runs) {
    if (!architectures.has(run.applicationId)) {
      const { application } = await ctx.emr.send(new GetApplicationCommand({ applicationId: run.applicationId }));
      architectures.set(run.applicationId, application?.architecture ?? 'X86_64');
    }
    const { jobRun } = await ctx.emr.send(new GetJobRunCommand({ applicationId: run.applicationId, jobRunId: run.jobRunId }));
    const billed = jobRun?.billedResourceUtilization;
    if (!billed) {
      ctx.io.out(`  cost ${run.state}: not billed yet (job run ${run.jobRunId})`);
      continue;
    }
    try {
      const c = cost(billed, region, architectures.get(run.applicationId)!);
      total += c.costUsd;
      priced += 1;
      ctx.io.out(`  cost ${run.state}: ${money(c.costUsd)} (${num(c.vCPUHour)} vCPU-h, job run ${run.jobRunId})`);
    } catch (err) {
      if (!(err instanceof UnknownPriceError)) throw err;
      ctx.io.out(`  cost ${run.state}: unpriced (${region} has no price in lib/cost/price-table.ts)`);
    }
  }
  ctx.io.out(`Cost of this execution: ${money(Math.round(total * 1e6) / 1e6)} across ${priced} job runs.`);
}
