import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { terminal } from './lambda-host';
import { ProgressDisplay } from './progress';
import type { LocalRuntime as LocalRuntimeClass } from './runtime';
import { UnknownStateMachineError } from './deployment';
import { accessReportText } from './access-report';
import { fireSchedule } from './schedules';
import type { AccessReport } from './iam/access-log';

/**
 * The local runner's commands — `npx emrpipe --local <command>` (cli/index.ts registers them from here) or
 * `npx tsx local/cli.ts <command>`:
 *
 *   run <pipeline> [--input file.json | --input-json '{…}']   one execution of a pipeline's state machine
 *   list                                                       state machines and what runs each task state
 *   schedule <schedule>                                        fire one Scheduler schedule under its role
 *   access [--json]                                            the access report of the last local run
 *   demo [--sequential]                                        the full demo (same as npm run demo)
 *
 * Exit codes: 0 succeeded, 1 execution failed, 2 bad usage or input file.
 */

/** Options every local command takes (the local tree, the stage, an assembly, the Spark master). */
export interface LocalGlobals {
  /** Local tree (s3/, logs/, alerts.jsonl, report.html). */
  readonly root: string;
  readonly stage?: string;
  readonly assembly?: string;
  readonly master: string;
  /** Repository root (.venv, jobs/, cdk.json). @default process.cwd() */
  readonly projectRoot?: string;
}

/** Where a command's lines go (one line per call, no trailing newline). */
export type LineWriter = (line: string) => void;

const stdoutLine: LineWriter = (line) => {
  terminal.out(`${line}\n`);
};

/** A bad argument or input file: exit code 2 with the message. */
export class UsageError extends Error {}

/** Commander argument parser of `--input-json`: the value as JSON, or a usage error naming the option. */
export function parseJsonOption(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new InvalidArgumentError(`not valid JSON (${(error as Error).message})`);
  }
}

// The runtime (synth, local AWS, Spark) and the demo load only when a command needs them, so `emrpipe` can
// declare these commands without loading the local runner.
/* eslint-disable @typescript-eslint/no-require-imports */
const LocalRuntime = (): typeof LocalRuntimeClass => (require('./runtime') as typeof import('./runtime')).LocalRuntime;
const runDemo = (...args: Parameters<typeof import('./demo').runDemo>) => (require('./demo') as typeof import('./demo')).runDemo(...args);
/* eslint-enable @typescript-eslint/no-require-imports */

const runtimeOptions = (g: LocalGlobals) => ({
  root: g.root,
  ...(g.projectRoot ? { projectRoot: g.projectRoot } : {}),
  ...(g.stage ? { stage: g.stage } : {}),
  ...(g.assembly ? { assemblyDir: path.resolve(g.projectRoot ?? process.cwd(), g.assembly) } : {}),
});

export async function runCommand(g: LocalGlobals, pipeline: string, opts: { input?: string; inputJson?: unknown; name?: string; json?: boolean }, out: LineWriter = stdoutLine): Promise<number> {
  let input: unknown = opts.inputJson ?? {};
  if (opts.input) {
    if (!existsSync(opts.input)) throw new UsageError(`--input: file ${opts.input} does not exist`);
    try {
      input = JSON.parse(readFileSync(opts.input, 'utf8'));
    } catch (error) {
      throw new UsageError(`--input: ${opts.input} is not valid JSON (${(error as Error).message})`);
    }
  }
  const display = new ProgressDisplay({ root: path.resolve(g.root) });
  const runtime = await LocalRuntime().create({
    ...runtimeOptions(g),
    spark: { master: g.master },
    ...(opts.json ? {} : { onEvent: display.onEvent }),
  });
  try {
    const execution = await runtime.run(pipeline, input, opts.name ? { executionName: opts.name } : {});
    display.stop();
    if (opts.json) out(JSON.stringify(execution, null, 2));
    // the failure's sentence is the display's last execution line (failureMessage), printed once
    else out(`  logs: ${path.relative(process.cwd(), execution.logDir)}`);
    return execution.status === 'SUCCEEDED' ? 0 : 1;
  } finally {
    await runtime.close();
  }
}

export async function listCommand(g: LocalGlobals, out: LineWriter = stdoutLine): Promise<number> {
  const runtime = await LocalRuntime().create(runtimeOptions(g));
  try {
    for (const sm of runtime.deployment.stateMachines) {
      out(sm.name);
      for (const { state, resource } of runtime.describe(sm.name)) {
        const fn = runtime.deployment.findFunction(resource);
        const what = fn ? `handler ${path.relative(process.cwd(), fn.codeFile)}` : resource.includes('emr-serverless') ? 'local spark-submit' : resource.includes('sns') ? `alerts file` : resource;
        out(`  ${state.padEnd(34)} ${what}`);
      }
    }
    return 0;
  } finally {
    await runtime.close();
  }
}

export async function scheduleCommand(g: LocalGlobals, wanted: string, out: LineWriter = stdoutLine): Promise<number> {
  const runtime = await LocalRuntime().create({ ...runtimeOptions(g), spark: { master: g.master } });
  try {
    const outcome = (await fireSchedule(runtime, wanted)) as { status?: string; executionName?: string } | null;
    const execution = outcome?.status ? { status: outcome.status, executionName: outcome.executionName } : outcome;
    out(JSON.stringify(execution, null, 2));
    return outcome?.status === 'FAILED' ? 1 : 0;
  } finally {
    await runtime.close();
  }
}

export function accessCommand(g: LocalGlobals, opts: { json?: boolean }, out: LineWriter = stdoutLine): number {
  const file = path.join(path.resolve(g.root), 'access-report.json');
  if (!existsSync(file)) throw new UsageError(`No access report at ${file}: run a pipeline locally first`);
  const report = JSON.parse(readFileSync(file, 'utf8')) as AccessReport;
  out(opts.json ? JSON.stringify(report, null, 2) : accessReportText(report));
  return 0;
}

export async function demoCommand(g: LocalGlobals, opts: { sequential?: boolean }): Promise<number> {
  const result = await runDemo({ root: g.root, ...(g.projectRoot ? { projectRoot: g.projectRoot } : {}), sequential: Boolean(opts.sequential), spark: { master: g.master } });
  return result.ok ? 0 : 1;
}

export type LocalCommandName = 'run' | 'list' | 'schedule' | 'access' | 'demo';

export interface LocalCommandHost {
  /** The options of this invocation (read when a command runs). */
  readonly globals: () => LocalGlobals;
  /** Runs a command's implementation and records its exit code. */
  readonly act: (fn: () => Promise<number> | number) => Promise<void>;
  readonly out?: LineWriter;
}

/**
 * Declares the local runner's commands (their arguments and options) on a commander program — this CLI's own and
 * `emrpipe --local`'s, so both parse them the same way.
 */
export function addLocalCommands(program: Command, host: LocalCommandHost, names: readonly LocalCommandName[] = ['run', 'list', 'schedule', 'access', 'demo']): void {
  const out = host.out ?? stdoutLine;
  if (names.includes('run')) {
    program
      .command('run')
      .description('Run one execution of a pipeline and wait for it to end.')
      .argument('<pipeline>', 'recommender-training | drift-retrain | news-enrichment | taxi-medallion (or a state machine name)')
      .option('-i, --input <file>', 'execution input JSON file')
      .option('--input-json <json>', 'execution input as a JSON string', parseJsonOption)
      .option('-n, --name <execution>', 'execution name ($$.Execution.Name)')
      .option('--json', 'print the execution record as JSON instead of the task list')
      .action((pipeline: string, opts: { input?: string; inputJson?: unknown; name?: string; json?: boolean }) => host.act(() => runCommand(host.globals(), pipeline, opts, out)));
  }
  if (names.includes('list')) {
    program
      .command('list')
      .description('List the synthesized state machines and what runs each task state locally.')
      .action(() => host.act(() => listCommand(host.globals(), out)));
  }
  if (names.includes('schedule')) {
    program
      .command('schedule <schedule>')
      .description('Fire one EventBridge Scheduler schedule of the app (by name or logical id part, e.g. NewsEnrichmentHourly) under its role.')
      .action((wanted: string) => host.act(() => scheduleCommand(host.globals(), wanted, out)));
  }
  if (names.includes('access')) {
    program
      .command('access')
      .description('The access report of the last local run (per principal: actions and resources used, granted statements never exercised).')
      .option('--json', 'print the report as JSON')
      .action((opts: { json?: boolean }) => host.act(() => accessCommand(host.globals(), opts, out)));
  }
  if (names.includes('demo')) {
    program
      .command('demo')
      .description('Run the four pipelines on the bundled sample and write .local/report.html (same as npm run demo).')
      .option('--sequential', 'run the recommender and the news/taxi chains one after the other')
      .action((opts: { sequential?: boolean }) => host.act(() => demoCommand(host.globals(), opts)));
  }
}

export function buildProgram(): Command {
  const program = new Command('local-runner')
    .description('Run the synthesized Step Functions pipelines on this machine: handlers in-process, Spark jobs on local Spark, S3 in .local/s3 (no AWS, no Docker). The same commands: npx emrpipe --local <command>.')
    .option('--root <dir>', 'local tree (s3/, logs/, alerts.jsonl, report.html)', '.local')
    .option('--stage <stage>', 'CDK stage to synthesize (cdk.json context "stages")')
    .option('--assembly <dir>', 'use this cloud assembly (cdk.out) instead of synthesizing')
    .option('--master <url>', 'Spark master for the jobs', 'local[2]')
    .showHelpAfterError()
    // before the commands are added, so they inherit it: a usage error exits 2 (main), not 1 from inside commander
    .exitOverride();
  addLocalCommands(program, {
    globals: () => program.opts<LocalGlobals>(),
    act: async (fn) => {
      process.exitCode = await fn();
    },
  });
  return program;
}

/** The exit code and message of an error a local command threw (2: usage, 1: anything else). */
export function describeLocalError(error: unknown): { exitCode: number; message: string } {
  if (error instanceof UsageError || error instanceof UnknownStateMachineError) return { exitCode: 2, message: error.message };
  return { exitCode: 1, message: (error as Error).message };
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    const { exitCode, message } = describeLocalError(error);
    terminal.err(`error: ${message}\n`);
    return exitCode;
  }
}

if (require.main === module) {
  main().then((code) => {
    process.exitCode = code;
  });
}
