import { readFileSync } from 'node:fs';
import type { ExecutionRecord, StepRecord } from '../local/runtime';
import { errorSentence } from '../local/task-errors';
import { printCostOfExecutionOutput } from './commands/cost';
import { printModelQuality } from './model-quality';
import type { CliContext, LocalRuntimeOverrides } from './context';
import { formatSeconds } from './duration';
import { CliError } from './errors';
import { PIPELINES } from './stage-outputs';

/**
 * `--local`: the same commands against the local runner (local/), which executes the synthesized state machines,
 * the Lambda handlers in-process and the jobs with the pinned pyspark — no AWS account.
 */

export interface LocalRunRequest extends LocalRuntimeOverrides {
  readonly pipeline: string;
  readonly input: Record<string, unknown>;
  readonly stage: string;
  readonly cwd: string;
  readonly executionName?: string;
  /** Files the operator uploads to the lake bucket before the execution starts (key → local file). */
  readonly uploads?: ReadonlyArray<{ readonly key: string; readonly file: string }>;
  /** Called on every state transition. */
  readonly onStep: (step: StepRecord) => void;
}

export interface LocalRunResult {
  readonly status: ExecutionRecord['status'];
  readonly executionName?: string;
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
}

export type LocalRunner = (request: LocalRunRequest) => Promise<LocalRunResult>;

const runtimeOptions = (request: LocalRuntimeOverrides & { readonly cwd: string; readonly stage: string }) => ({
  projectRoot: request.cwd,
  stage: request.stage,
  ...(request.root ? { root: request.root } : {}),
  ...(request.assemblyDir ? { assemblyDir: request.assemblyDir } : {}),
  ...(request.master ? { spark: { master: request.master } } : {}),
});

/** The local runner, loaded only when `--local` is used (it synthesizes the app and starts Spark). */
export async function loadLocalRunner(): Promise<LocalRunner> {
  let runtime: typeof import('../local/runtime');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    runtime = require('../local/runtime') as typeof import('../local/runtime');
  } catch (err) {
    throw new CliError(`The local runner could not be loaded from local/ (${(err as Error).message.split('\n')[0]}).`);
  }
  return async (request) => {
    const local = await runtime.LocalRuntime.create(runtimeOptions(request));
    try {
      const lake = local.bucketFromEnv('LAKE_BUCKET');
      for (const upload of request.uploads ?? []) await local.putObjectAsOperator(lake, upload.key, readFileSync(upload.file));
      return await local.run(request.pipeline, request.input, {
        ...(request.executionName ? { executionName: request.executionName } : {}),
        onEvent: (event) => {
          if (event.kind === 'step') request.onStep(event.step);
        },
      });
    } finally {
      await local.close();
    }
  };
}

/** One line per step transition, like `run --wait` prints for a cloud execution. */
export function describeLocalStep(step: StepRecord): string | undefined {
  const took = step.durationMs !== undefined ? ` (${formatSeconds(step.durationMs / 1000)})` : '';
  switch (step.status) {
    case 'running':
      return `→ ${step.name}`;
    case 'succeeded':
      return `✓ ${step.name}${took}`;
    case 'retrying':
      return `↻ ${step.name} retrying${step.error ? ` after ${step.error}` : ''}`;
    case 'caught':
    case 'failed':
      // the error's name and the log file (which holds the trace); its sentence is printed once, at the end
      return `✗ ${step.name}${step.error ? ` ${step.error}` : ''}${step.logFile ? ` (log: ${step.logFile})` : ''}`;
    default:
      return undefined;
  }
}

export async function runLocalPipeline(
  ctx: CliContext,
  pipeline: string,
  input: Record<string, unknown>,
  options: { executionName?: string; uploads?: LocalRunRequest['uploads']; json?: boolean } = {},
  runner?: LocalRunner,
): Promise<number> {
  if (!(PIPELINES as readonly string[]).includes(pipeline)) {
    throw new CliError(`Unknown pipeline "${pipeline}". Pipelines: ${PIPELINES.join(', ')}.`, 2);
  }
  const run = runner ?? (await loadLocalRunner());
  if (!options.json) ctx.io.out(`Running ${pipeline} locally (stage ${ctx.stage} settings, no AWS)…`);
  const result = await run({
    pipeline,
    input,
    stage: ctx.stage,
    cwd: ctx.io.cwd,
    ...ctx.localRuntime,
    ...(options.executionName ? { executionName: options.executionName } : {}),
    ...(options.uploads ? { uploads: options.uploads } : {}),
    onStep: (step) => {
      const line = options.json ? undefined : describeLocalStep(step);
      if (line) ctx.io.out(line);
    },
  });
  if (options.json) {
    // the execution record (input, output, error, every state's status and duration), as local/cli.ts prints it
    ctx.io.out(JSON.stringify(result, null, 2));
    return result.status === 'SUCCEEDED' ? 0 : 1;
  }
  if (result.status === 'SUCCEEDED') {
    printModelQuality(ctx, result.output);
    printCostOfExecutionOutput(ctx, result.output === undefined ? undefined : JSON.stringify(result.output));
    ctx.io.out(`Local execution ${result.executionName ?? ''} of ${pipeline} SUCCEEDED.`.replace('  ', ' '));
    return 0;
  }
  const sentence = errorSentence(result.error, result.cause);
  throw new CliError(`Local execution of ${pipeline} ended ${result.status}${sentence ? ` (${sentence})` : ''}.`);
}

/** A single job run on this machine, through the local runner's EMR Serverless adapter. */
export interface LocalJobRequest extends LocalRuntimeOverrides {
  readonly job: string;
  readonly step: string;
  readonly args: Record<string, unknown>;
  readonly stage: string;
  readonly cwd: string;
  readonly executionName: string;
}

export interface LocalJobResult {
  /** The `.sync`-shaped job run (State, JobRunId, TotalExecutionDurationSeconds, Local.cpuSeconds, …). */
  readonly jobRun: Record<string, unknown>;
  readonly logFile: string;
  readonly resultUri: string;
}

export type LocalJobRunner = (request: LocalJobRequest) => Promise<LocalJobResult>;

/**
 * Builds the request with the job-request builder from the locally "deployed" app (the build-job-request
 * function's environment and the published manifest) and runs it with local spark-submit.
 */
export async function loadLocalJobRunner(): Promise<LocalJobRunner> {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const runtime = require('../local/runtime') as typeof import('../local/runtime');
  const emrAdapter = require('../local/emr-adapter') as typeof import('../local/emr-adapter');
  const builder = require('../lib/jobs/job-request-builder') as typeof import('../lib/jobs/job-request-builder');
  const context = require('../lambda/shared/job-run-context') as typeof import('../lambda/shared/job-run-context');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const path = await import('node:path');
  return async (request) => {
    const local = await runtime.LocalRuntime.create(runtimeOptions(request));
    try {
      const fn = local.deployment.functions.find((f) => f.environment.APPLICATION_ID && f.environment.JOB_ROLE_ARN);
      if (!fn) throw new CliError('The synthesized app has no job-request function (APPLICATION_ID / JOB_ROLE_ARN in its environment).');
      const { env } = context.readJobRunEnvironment(fn.environment);
      const described = builder.describeJobRun({
        job: request.job,
        step: request.step,
        args: request.args,
        execution: { id: `emrpipe-local:${request.stage}:${request.executionName}`, name: request.executionName },
        manifest: local.deployedManifest(),
        env,
      });
      // the operator starts the run: StartJobRun (+ TagResource for its tags) and PassRole of the job role
      await local.aws.assertAuthorized({
        principalArn: local.aws.authorizer.operatorArn,
        operation: 'EMRServerless.StartJobRun',
        params: { applicationId: described.request.ApplicationId, executionRoleArn: described.request.ExecutionRoleArn, tags: described.request.Tags },
      });
      const logFile = path.join(local.layout.logsRoot, 'standalone', request.executionName, `${request.step}.log`);
      let jobRun: Record<string, unknown>;
      try {
        jobRun = await local.emr.startJobRunSync(described.request, logFile);
      } catch (err) {
        if (!(err instanceof emrAdapter.JobRunFailedError)) throw err;
        try {
          jobRun = JSON.parse(err.cause) as Record<string, unknown>;
        } catch {
          throw new CliError(`The local job run could not start: ${err.cause}`);
        }
      }
      return { jobRun, logFile, resultUri: String(described.args.resultUri) };
    } finally {
      await local.close();
    }
  };
}
