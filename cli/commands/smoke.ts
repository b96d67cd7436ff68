import { PutObjectCommand } from '@aws-sdk/client-s3';
import { StartExecutionCommand } from '@aws-sdk/client-sfn';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CliContext } from '../context';
import { CliError } from '../errors';
import { requireOutput, requireStateMachine } from '../stage-outputs';
import { followExecution } from './run';

export interface SmokeOptions {
  /** Directory of the bundled tiny Netflix sample (`train*`, `test*`, `future*` files). */
  readonly sampleDir: string;
  /** Run id (default: time stamp); the sample goes to `s3://<lake>/smoke/<runId>/`. */
  readonly runId?: string;
}

/**
 * Post-deploy smoke test: uploads the bundled tiny sample to `s3://<lake>/smoke/<run>/netflix/raw/`, starts
 * recommender-training on it (model pointer under `smoke/` too, so the stage's promoted model is untouched),
 * streams the states and fails unless the execution SUCCEEDED.
 */
export async function smokeCommand(ctx: CliContext, options: SmokeOptions): Promise<number> {
  if (ctx.options.local) throw new CliError('smoke tests a deployed stage; locally run "npm run demo" instead.', 2);
  const dir = resolve(ctx.io.cwd, options.sampleDir);
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => statSync(join(dir, f)).isFile()).sort();
  } catch {
    throw new CliError(`The sample directory ${options.sampleDir} does not exist.`, 2);
  }
  const kind = (prefix: string) => files.filter((f) => f.toLowerCase().startsWith(prefix));
  const train = kind('train');
  const test = kind('test');
  const futures = kind('future');
  if (train.length === 0 || test.length === 0) {
    throw new CliError(`The sample directory ${options.sampleDir} needs train* and test* files (found: ${files.join(', ') || 'none'}).`, 2);
  }
  const outputs = await ctx.outputs();
  const lake = requireOutput(outputs, 'lakeBucket');
  const models = requireOutput(outputs, 'modelsBucket');
  const stateMachineArn = requireStateMachine(outputs, 'recommender-training');
  const runId = options.runId ?? ctx.io.now().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  const prefix = `smoke/${runId}/netflix/raw/`;
  for (const file of [...train, ...test, ...futures]) {
    await ctx.s3.send(new PutObjectCommand({ Bucket: lake, Key: `${prefix}${file}`, Body: readFileSync(join(dir, file)) }));
  }
  ctx.io.out(`Uploaded ${train.length + test.length + futures.length} sample files to s3://${lake}/${prefix}`);
  const uris = (names: string[]) => names.map((f) => `s3://${lake}/${prefix}${f}`);
  const input = {
    trainInput: uris(train),
    testInput: uris(test),
    ...(futures.length ? { futuresInput: uris(futures) } : {}),
    pointerUri: `s3://${models}/smoke/${runId}/current.json`,
  };
  const started = await ctx.sfn.send(new StartExecutionCommand({ stateMachineArn, name: `smoke-${runId}`, input: JSON.stringify(input) }));
  ctx.io.out(`Smoke test: started recommender-training ${started.executionArn}`);
  const final = await followExecution(ctx, started.executionArn!);
  if (final.status !== 'SUCCEEDED') {
    throw new CliError(`Smoke test failed: recommender-training ended ${final.status}${final.error ? ` (${final.error}${final.cause ? `: ${final.cause.slice(0, 300)}` : ''})` : ''}.`);
  }
  ctx.io.out('Smoke test passed: recommender-training SUCCEEDED on the bundled sample.');
  return 0;
}
