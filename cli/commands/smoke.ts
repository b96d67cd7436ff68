import { PutObjectCommand } from '@aws-sdk/client-s3';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { namespaceSchema, smokeNamespace } from '../../lib/pipelines/common';
import { type RecommenderTrainingInput, recommenderKeys } from '../../lib/pipelines/recommender-training';
import type { CliContext } from '../context';
import { errorSentence } from '../../local/task-errors';
import { CliError } from '../errors';
import { requireOutput, requireStateMachine } from '../stage-outputs';
import { type LocalRunner, runLocalPipeline } from '../local';
import { followExecution } from './run';

export interface SmokeOptions {
  /** Directory of the bundled tiny Netflix sample (`train*`, `test*`, `future*` files). */
  readonly sampleDir: string;
  /** Run id (default: time stamp); the run's namespace is `smoke/<runId>`, its execution `smoke-<runId>`. */
  readonly runId?: string;
}

/**
 * The execution input of a smoke run: only its namespace. recommender-training then reads the sample from
 * `<lake>/smoke/<run>/bronze/netflix/raw/` and writes every dataset, model version and the model pointer under
 * `smoke/<run>/` (lib/pipelines/common.ts "namespaces") — what the deployed roles grant, and nothing of the stage's.
 */
export function smokeInput(runId: string): RecommenderTrainingInput {
  return { namespace: smokeNamespace(runId) };
}

/**
 * Post-deploy smoke test: uploads the bundled tiny sample into the run's namespace
 * (`s3://<lake>/smoke/<run>/bronze/netflix/raw/`), starts recommender-training with `{"namespace": "smoke/<run>"}`
 * (so its silver datasets, model and promoted pointer stay under `smoke/<run>/` and the stage's datasets and
 * promoted model are untouched), streams the states and fails unless the execution SUCCEEDED.
 */
export async function smokeCommand(ctx: CliContext, options: SmokeOptions, runner?: LocalRunner): Promise<number> {
  const dir = resolve(ctx.io.cwd, options.sampleDir);
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => statSync(join(dir, f)).isFile()).sort();
  } catch {
    throw new CliError(`The sample directory ${options.sampleDir} does not exist.`, 2);
  }
  // the plan reads train*, test* and future* from the namespace's raw prefix
  const sample = files.filter((f) => /^(train|test|future)/i.test(f));
  const missing = ['train', 'test', 'future'].filter((k) => !sample.some((f) => f.toLowerCase().startsWith(k)));
  if (missing.length) {
    throw new CliError(`The sample directory ${options.sampleDir} needs train*, test* and future* files (found: ${files.join(', ') || 'none'}).`, 2);
  }
  const runId = options.runId ?? ctx.io.now().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-').toLowerCase();
  if (!namespaceSchema.safeParse(smokeNamespace(runId)).success) {
    throw new CliError(`--run-id ${runId}: must be 1-63 lower-case letters, digits and - (it names the S3 namespace smoke/<id>/).`, 2);
  }
  const input = smokeInput(runId);
  const prefix = recommenderKeys(input.namespace).lake.raw;
  if (ctx.options.local) {
    // the same smoke test against the local deployment, under the same IAM: the operator uploads, the pipeline runs
    const uploads = sample.map((file) => ({ key: `${prefix}${file}`, file: join(dir, file) }));
    await runLocalPipeline(ctx, 'recommender-training', input as Record<string, unknown>, { executionName: `smoke-${runId}`, uploads }, runner);
    ctx.io.out('Smoke test passed: recommender-training SUCCEEDED on the bundled sample (local).');
    return 0;
  }
  const outputs = await ctx.outputs();
  const lake = requireOutput(outputs, 'lakeBucket');
  const stateMachineArn = requireStateMachine(outputs, 'recommender-training');
  for (const file of sample) {
    await ctx.s3.send(new PutObjectCommand({ Bucket: lake, Key: `${prefix}${file}`, Body: readFileSync(join(dir, file)) }));
  }
  ctx.io.out(`Uploaded ${sample.length} sample files to s3://${lake}/${prefix}`);
  const started = await ctx.sfn.send(new StartExecutionCommand({ stateMachineArn, name: `smoke-${runId}`, input: JSON.stringify(input) }));
  ctx.io.out(`Smoke test: started recommender-training ${started.executionArn}`);
  const final = await followExecution(ctx, started.executionArn!);
  if (final.status !== 'SUCCEEDED') {
    const sentence = errorSentence(final.error, final.cause);
    throw new CliError(`Smoke test failed: recommender-training ended ${final.status}${sentence ? ` (${sentence})` : ''}.`);
  }
  ctx.io.out('Smoke test passed: recommender-training SUCCEEDED on the bundled sample.');
  return 0;
}
