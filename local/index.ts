/**
 * Programmatic API of the local runner: run the deployed pipelines' state machines on this machine.
 *
 *     import { runPipelineLocally } from './local';
 *     const execution = await runPipelineLocally({ pipeline: 'drift-retrain', input: { forceRetrain: true } });
 *     execution.status; // 'SUCCEEDED' | 'FAILED'
 */
import { ExecutionRecord, LocalRuntime, LocalRuntimeOptions, RunOptions } from './runtime';
import { errorSentence } from './task-errors';

export { LocalRuntime } from './runtime';
export type { ExecutionRecord, LocalRuntimeOptions, ProgressEvent, RunOptions, StepRecord } from './runtime';
export { LocalLayout } from './layout';
export { runDemo } from './demo';
export { ProgressDisplay } from './progress';

export interface RunPipelineLocallyOptions extends LocalRuntimeOptions, RunOptions {
  /** Pipeline (`recommender-training`, `drift-retrain`, `news-enrichment`, `taxi-medallion`) or state machine name. */
  readonly pipeline: string;
  /** Execution input (as given to StartExecution). */
  readonly input?: unknown;
}

/**
 * Synthesizes the app (or reuses the assembly), deploys it to the local tree, runs one execution to its end and
 * tears the adapters down. Resolves with the execution record whatever the outcome; rejects only when the
 * runner itself cannot start (e.g. the CDK app does not synthesize).
 */
export async function runPipelineLocally(options: RunPipelineLocallyOptions): Promise<ExecutionRecord> {
  const { pipeline, input, executionName, onEvent, ...runtimeOptions } = options;
  const runtime = await LocalRuntime.create(runtimeOptions);
  try {
    return await runtime.run(pipeline, input ?? {}, { ...(executionName ? { executionName } : {}), ...(onEvent ? { onEvent } : {}) });
  } finally {
    await runtime.close();
  }
}

/**
 * `<Error>: <message>` of a failed execution: a Lambda's `errorMessage` or a job run's `StateDetails`, never the
 * JSON envelope and its trace (they stay in the execution record and the failed state's log file).
 */
export function failureMessage(execution: ExecutionRecord): string | undefined {
  if (execution.status !== 'FAILED') return undefined;
  return errorSentence(execution.error, execution.cause) ?? 'FAILED';
}
