import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { terminal } from './lambda-host';
import { ProgressDisplay } from './progress';
import { LocalRuntime } from './runtime';
import { runDemo } from './demo';
import { UnknownStateMachineError } from './deployment';
import { accessReportText } from './access-report';
import { fireSchedule } from './schedules';
import type { AccessReport } from './iam/access-log';

/**
 * `npx tsx local/cli.ts <command>` — the local runner's CLI.
 *
 *   run <pipeline> [--input file.json | --input-json '{…}']   one execution of a pipeline's state machine
 *   list                                                       state machines and what runs each task state
 *   schedule <schedule>                                        fire one Scheduler schedule under its role
 *   access [--json]                                            the access report of the last local run
 *   demo [--sequential]                                        the full demo (same as npm run demo)
 *
 * Exit codes: 0 succeeded, 1 execution failed, 2 bad usage or input file.
 */
export function buildProgram(): Command {
  const program = new Command('local-runner')
    .description('Run the synthesized Step Functions pipelines on this machine: handlers in-process, Spark jobs on local Spark, S3 in .local/s3 (no AWS, no Docker).')
    .option('--root <dir>', 'local tree (s3/, logs/, alerts.jsonl, report.html)', '.local')
    .option('--stage <stage>', 'CDK stage to synthesize (cdk.json context "stages")')
    .option('--assembly <dir>', 'use this cloud assembly (cdk.out) instead of synthesizing')
    .option('--master <url>', 'Spark master for the jobs', 'local[2]')
    .showHelpAfterError();

  program
    .command('run')
    .description('Run one execution of a pipeline and wait for it to end.')
    .argument('<pipeline>', 'recommender-training | drift-retrain | news-enrichment | taxi-medallion (or a state machine name)')
    .option('-i, --input <file>', 'execution input JSON file')
    .option('--input-json <json>', 'execution input as a JSON string', parseJson)
    .option('-n, --name <execution>', 'execution name ($$.Execution.Name)')
    .option('--json', 'print the execution record as JSON instead of the task list')
    .action(async (pipeline: string, opts: { input?: string; inputJson?: unknown; name?: string; json?: boolean }) => {
      const global = program.opts<{ root: string; stage?: string; assembly?: string; master: string }>();
      let input: unknown = opts.inputJson ?? {};
      if (opts.input) {
        if (!existsSync(opts.input)) throw new UsageError(`--input: file ${opts.input} does not exist`);
        try {
          input = JSON.parse(readFileSync(opts.input, 'utf8'));
        } catch (error) {
          throw new UsageError(`--input: ${opts.input} is not valid JSON (${(error as Error).message})`);
        }
      }
      const display = new ProgressDisplay({ root: path.resolve(global.root) });
      const runtime = await LocalRuntime.create({
        root: global.root,
        ...(global.stage ? { stage: global.stage } : {}),
        ...(global.assembly ? { assemblyDir: path.resolve(global.assembly) } : {}),
        spark: { master: global.master },
        ...(opts.json ? {} : { onEvent: display.onEvent }),
      });
      try {
        const execution = await runtime.run(pipeline, input, opts.name ? { executionName: opts.name } : {});
        display.stop();
        if (opts.json) terminal.out(`${JSON.stringify(execution, null, 2)}\n`);
        // the failure's sentence is the display's last execution line (failureMessage), printed once
        else terminal.out(`  logs: ${path.relative(process.cwd(), execution.logDir)}\n`);
        process.exitCode = execution.status === 'SUCCEEDED' ? 0 : 1;
      } finally {
        await runtime.close();
      }
    });

  program
    .command('list')
    .description('List the synthesized state machines and what runs each task state locally.')
    .action(async () => {
      const global = program.opts<{ root: string; stage?: string; assembly?: string }>();
      const runtime = await LocalRuntime.create({
        root: global.root,
        ...(global.stage ? { stage: global.stage } : {}),
        ...(global.assembly ? { assemblyDir: path.resolve(global.assembly) } : {}),
      });
      try {
        for (const sm of runtime.deployment.stateMachines) {
          terminal.out(`${sm.name}\n`);
          for (const { state, resource } of runtime.describe(sm.name)) {
            const fn = runtime.deployment.findFunction(resource);
            const what = fn ? `handler ${path.relative(process.cwd(), fn.codeFile)}` : resource.includes('emr-serverless') ? 'local spark-submit' : resource.includes('sns') ? `alerts file` : resource;
            terminal.out(`  ${state.padEnd(34)} ${what}\n`);
          }
        }
      } finally {
        await runtime.close();
      }
    });

  program
    .command('schedule <schedule>')
    .description('Fire one EventBridge Scheduler schedule of the app (by name or logical id part, e.g. NewsEnrichmentHourly) under its role.')
    .action(async (wanted: string) => {
      const global = program.opts<{ root: string; stage?: string; master: string }>();
      const runtime = await LocalRuntime.create({ root: global.root, ...(global.stage ? { stage: global.stage } : {}), spark: { master: global.master } });
      try {
        const outcome = (await fireSchedule(runtime, wanted)) as { status?: string; executionName?: string } | null;
        const execution = outcome?.status ? { status: outcome.status, executionName: outcome.executionName } : outcome;
        terminal.out(`${JSON.stringify(execution, null, 2)}\n`);
        if (outcome?.status === 'FAILED') process.exitCode = 1;
      } finally {
        await runtime.close();
      }
    });

  program
    .command('access')
    .description('The access report of the last local run (per principal: actions and resources used, granted statements never exercised).')
    .option('--json', 'print the report as JSON')
    .action((opts: { json?: boolean }) => {
      const global = program.opts<{ root: string }>();
      const file = path.join(path.resolve(global.root), 'access-report.json');
      if (!existsSync(file)) throw new UsageError(`No access report at ${file}: run a pipeline locally first`);
      const report = JSON.parse(readFileSync(file, 'utf8')) as AccessReport;
      terminal.out(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${accessReportText(report)}\n`);
    });

  program
    .command('demo')
    .description('Run the four pipelines on the bundled sample and write .local/report.html (same as npm run demo).')
    .option('--sequential', 'run the recommender and the news/taxi chains one after the other')
    .action(async (opts: { sequential?: boolean }) => {
      const global = program.opts<{ root: string; master: string }>();
      const result = await runDemo({ root: global.root, sequential: Boolean(opts.sequential), spark: { master: global.master } });
      process.exitCode = result.ok ? 0 : 1;
    });
  return program;
}

class UsageError extends Error {}

function parseJson(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new InvalidArgumentError(`not valid JSON (${(error as Error).message})`);
  }
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildProgram().exitOverride();
  try {
    await program.parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof UsageError || error instanceof UnknownStateMachineError) {
      terminal.err(`error: ${error.message}\n`);
      return 2;
    }
    terminal.err(`error: ${(error as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) {
  main().then((code) => {
    process.exitCode = code;
  });
}
