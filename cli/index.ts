import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { costCommand } from './commands/cost';
import { logsCommand } from './commands/logs';
import { runCommand } from './commands/run';
import { smokeCommand } from './commands/smoke';
import { statusCommand } from './commands/status';
import { submitCommand } from './commands/submit';
import { CliContext, defaultIo, type CliIo, type GlobalOptions } from './context';
import { describeError } from './errors';
import { PIPELINES } from './stage-outputs';

/**
 * `emrpipe` — the operator CLI: run pipelines, submit single jobs, follow status, read driver logs and see what
 * runs cost, against a deployed stage (stack outputs found by stage name) or locally (`--local`).
 */

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a non-negative number of seconds.');
  return n;
}

export function buildProgram(io: CliIo, setExitCode: (code: number) => void): Command {
  const program = new Command('emrpipe');
  const context = () => new CliContext(program.opts<GlobalOptions>(), io);
  const act = (fn: (ctx: CliContext) => Promise<number>) => async () => setExitCode(await fn(context()));

  program
    .description('Operate the EMR Serverless ML pipelines: run, submit, status, logs and cost, per stage or locally.')
    .addOption(new Option('-s, --stage <name>', 'deployed stage to operate on (its stack: emr-ml-<stage>)').env('EMRPIPE_STAGE').default('dev'))
    .addOption(new Option('-r, --region <region>', 'AWS region (default: the SDK default chain, e.g. AWS_REGION)'))
    .option('--local', 'use the local runner instead of AWS (no account needed)', false)
    .addOption(new Option('--poll-seconds <n>', 'seconds between status polls when waiting').argParser(positiveNumber).default(5))
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride();

  program
    .command('run')
    .description(`start a pipeline execution and (with --wait) stream its state transitions; pipelines: ${PIPELINES.join(', ')}`)
    .argument('<pipeline>', 'pipeline (state machine) name')
    .option('-i, --input <file>', 'JSON file with the execution input (per-run overrides)')
    .option('-w, --wait', 'wait for the execution to finish, printing each state as it is entered and left', false)
    .option('-n, --name <name>', 'execution name (default: generated)')
    .action(async (pipeline: string, opts) => act((ctx) => runCommand(ctx, pipeline, opts))());

  program
    .command('submit')
    .description('start one job run built by the job-request builder (with --local: run it here with spark-submit); job arguments follow "--" as the job CLI takes them')
    .argument('<job>', 'job name (etl, train, evaluate, drift, …)')
    .argument('[args...]', 'job arguments, e.g. -- --input s3://… --output s3://… (drift: the action first)')
    .option('-w, --wait', 'wait for the job run to finish and print its cost', false)
    .option('--show-stdout', 'wait, then print the driver stdout', false)
    .option('-n, --name <name>', 'execution name used in the job run name and result URI (default: cli-<timestamp>)')
    .allowUnknownOption()
    .action(async (job: string, args: string[], opts) => act((ctx) => submitCommand(ctx, job, args, opts))());

  program
    .command('status')
    .description('show an execution (by ARN) or a job run (by id); without an argument, recent executions and job runs')
    .argument('[id]', 'execution ARN or job run id')
    .action(async (id: string | undefined) => act((ctx) => statusCommand(ctx, id))());

  program
    .command('logs')
    .description('print the driver stdout (or stderr) of a job run from its S3 log location, gunzipped')
    .argument('<jobRunId>', 'job run id')
    .option('--stderr', 'print stderr instead of stdout', false)
    .action(async (jobRunId: string, opts) => act((ctx) => logsCommand(ctx, jobRunId, opts))());

  program
    .command('cost')
    .description('cost of every job run in a period and the total (billed utilization x the price table)')
    .option('--since <duration>', 'period to look back: 30m, 12h, 7d, 2w', '7d')
    .option('--json', 'print JSON instead of a table', false)
    .action(async (opts) => act((ctx) => costCommand(ctx, opts))());

  program
    .command('smoke')
    .description('post-deploy smoke test: run recommender-training on the bundled tiny sample and fail unless it SUCCEEDED')
    .option('--sample-dir <dir>', 'directory with the sample train*/test*/future* files', 'data/sample/netflix')
    .option('--run-id <id>', 'id of this smoke run: its namespace smoke/<id>/ (every dataset, model and pointer) and execution smoke-<id>')
    .action(async (opts) => act((ctx) => smokeCommand(ctx, opts))());

  for (const cmd of program.commands) cmd.exitOverride().configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) });
  return program;
}

/** Runs the CLI; returns the exit code (never throws, never prints a stack trace). */
export async function main(argv: readonly string[], io: CliIo = defaultIo): Promise<number> {
  let exitCode = 0;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help / --version exit 0; usage errors were already printed by commander
      return err.exitCode === 0 ? 0 : 2;
    }
    const { message, exitCode: code } = describeError(err);
    io.err(`emrpipe: ${message}`);
    return code;
  }
}
