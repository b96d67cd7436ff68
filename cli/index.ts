import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { resolve } from 'node:path';
import { costCommand } from './commands/cost';
import { logsCommand } from './commands/logs';
import { runCommand } from './commands/run';
import { smokeCommand } from './commands/smoke';
import { statusCommand } from './commands/status';
import { submitCommand } from './commands/submit';
import { uiCommand } from './commands/ui';
import { addLocalCommands, describeLocalError, parseJsonOption, type LocalCommandName } from '../local/cli';
import { CliContext, defaultIo, type CliIo, type GlobalOptions } from './context';
import { CliError, describeError } from './errors';
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
    .description('Operate the EMR Serverless ML pipelines: run, submit, status, logs, ui and cost, per stage or locally (--local: also list, schedule, access, demo).')
    .addOption(new Option('-s, --stage <name>', 'deployed stage to operate on (its stack: emr-ml-<stage>)').env('EMRPIPE_STAGE').default('dev'))
    .addOption(new Option('-r, --region <region>', 'AWS region (default: the SDK default chain, e.g. AWS_REGION)'))
    .option('--local', 'use the local runner instead of AWS (no account needed)', false)
    .addOption(new Option('--poll-seconds <n>', 'seconds between status polls when waiting').argParser(positiveNumber).default(5))
    .option('--root <dir>', 'with --local: the local tree (s3/, logs/, executions/, spark-events/; default .local)')
    .option('--assembly <dir>', 'with --local: use this cloud assembly (cdk.out) instead of synthesizing')
    .option('--master <url>', 'with --local: Spark master for the jobs (default local[2])')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => io.out(s.trimEnd()), writeErr: (s) => io.err(s.trimEnd()) })
    .exitOverride();

  program
    .command('run')
    .description(`start a pipeline execution and (with --wait) stream its state transitions; pipelines: ${PIPELINES.join(', ')}`)
    .argument('<pipeline>', 'pipeline (state machine) name')
    .option('-i, --input <file>', 'JSON file with the execution input (per-run overrides)')
    .option('--input-json <json>', 'the execution input as a JSON string, e.g. \'{"rank": 32}\'', parseJsonOption)
    .option('-w, --wait', 'wait for the execution to finish, printing each state as it is entered and left (--local always waits)', false)
    .option('-n, --name <name>', 'execution name (default: generated)')
    .option('--json', 'with --local: print the execution record as JSON instead of the steps')
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
    .command('ui')
    .description(
      'print a fresh URL of a job run\'s Spark UI (EMR Serverless GetDashboardForJobRun: the live UI while it runs, the Spark History Server after); ' +
        'a URL is valid for one hour and meant for one use, so each call asks for a new one. ' +
        'With --local: serve Spark\'s History Server over .local/spark-events/ and print the run\'s application page until Ctrl-C',
    )
    .argument('<jobRunId>', 'job run id (with --local also an execution name)')
    .option('--open', 'also open the URL in a browser (xdg-open / open / start)', false)
    .action(async (jobRunId: string, opts) => act((ctx) => uiCommand(ctx, jobRunId, opts))());

  program
    .command('smoke')
    .description('post-deploy smoke test: run recommender-training on the bundled tiny sample and fail unless it SUCCEEDED')
    .option('--sample-dir <dir>', 'directory with the sample train*/test*/future* files', 'data/sample/netflix')
    .option('--run-id <id>', 'id of this smoke run: its namespace smoke/<id>/ (every dataset, model and pointer) and execution smoke-<id>')
    .action(async (opts) => act((ctx) => smokeCommand(ctx, opts))());

  // the local runner's own commands (local/cli.ts declares and implements them): emrpipe --local list|schedule|access|demo
  const localOnly: LocalCommandName[] = ['list', 'schedule', 'access', 'demo'];
  addLocalCommands(
    program,
    {
      globals: () => {
        const o = program.opts<GlobalOptions>();
        return { root: resolve(io.cwd, o.root ?? '.local'), stage: o.stage, ...(o.assembly ? { assembly: o.assembly } : {}), master: o.master ?? 'local[2]', projectRoot: io.cwd };
      },
      act: async (fn) => {
        try {
          setExitCode(await fn());
        } catch (err) {
          const { exitCode, message } = describeLocalError(err);
          throw exitCode === 2 ? new CliError(message, 2) : err;
        }
      },
      out: (line) => io.out(line),
    },
    localOnly,
  );
  for (const cmd of program.commands.filter((c) => (localOnly as string[]).includes(c.name()))) {
    cmd.description(`(--local) ${cmd.description()}`).hook('preAction', () => {
      if (!program.opts<GlobalOptions>().local) throw new CliError(`"${cmd.name()}" is a local-runner command: run it as emrpipe --local ${cmd.name()}.`, 2);
    });
  }

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
