import type { CliContext } from './context';
import { CliError } from './errors';
import { PIPELINES } from './stage-outputs';

/**
 * `--local`: the same commands against the local runner (local/), which executes the synthesized state machines,
 * the Lambda handlers in-process and the jobs with the pinned pyspark — no AWS account.
 */

type LocalRunner = (options: Record<string, unknown>) => Promise<unknown>;

/** Loads `runPipelineLocally` from the local runner; resolved at run time so the CLI works without it for cloud use. */
export async function loadLocalRunner(modulePath = '../local'): Promise<LocalRunner> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(modulePath)) as Record<string, unknown>;
  } catch (err) {
    throw new CliError(`The local runner could not be loaded from local/ (${(err as Error).message.split('\n')[0]}).`);
  }
  const run = mod.runPipelineLocally ?? (mod.default as Record<string, unknown> | undefined)?.runPipelineLocally;
  if (typeof run !== 'function') throw new CliError('The local runner (local/) does not export runPipelineLocally.');
  return run as LocalRunner;
}

export async function runLocalPipeline(ctx: CliContext, pipeline: string, input: Record<string, unknown>, runner?: LocalRunner): Promise<number> {
  if (!(PIPELINES as readonly string[]).includes(pipeline)) {
    throw new CliError(`Unknown pipeline "${pipeline}". Pipelines: ${PIPELINES.join(', ')}.`, 2);
  }
  const run = runner ?? (await loadLocalRunner());
  ctx.io.out(`Running ${pipeline} locally (stage ${ctx.stage} settings, no AWS)…`);
  const result = (await run({ pipeline, input, stage: ctx.stage, cwd: ctx.io.cwd })) as { status?: string; error?: string; cause?: string } | undefined;
  const status = result?.status ?? 'SUCCEEDED';
  if (status === 'SUCCEEDED') {
    ctx.io.out(`Local execution of ${pipeline} SUCCEEDED.`);
    return 0;
  }
  throw new CliError(`Local execution of ${pipeline} ended ${status}${result?.error ? ` (${result.error}${result.cause ? `: ${result.cause}` : ''})` : ''}.`);
}
