import { CloudFormationClient, DescribeStacksCommand, type Output, type Stack } from '@aws-sdk/client-cloudformation';
import { CliError } from './errors';

/** The four pipelines (state machines) a stage deploys. */
export const PIPELINES = ['recommender-training', 'drift-retrain', 'news-enrichment', 'taxi-medallion'] as const;
export type PipelineName = (typeof PIPELINES)[number];

/**
 * Names of a stage's platform stacks (lib/stacks/platform.ts `stackNames`: one stack, `emr-ml-<stage>`; kept here
 * so the CLI does not load aws-cdk-lib — a test checks both agree). `cdk deploy` and the CI/CD pipeline deploy
 * the stage under these names.
 */
export function platformStackNames(stage: string): string[] {
  return [`emr-ml-${stage}`];
}

/** What the CLI needs from a deployed stage, read from its CloudFormation outputs. */
export interface StageOutputs {
  readonly stage: string;
  /** The stage's stacks, comma-separated (for messages). */
  readonly stackName: string;
  readonly applicationId?: string;
  readonly jobRoleArn?: string;
  readonly lakeBucket?: string;
  readonly modelsBucket?: string;
  readonly artifactsBucket?: string;
  readonly logsBucket?: string;
  /** Database credentials secret (stages with a database). */
  readonly dbSecretArn?: string;
  readonly stateMachines: Partial<Record<PipelineName, string>>;
  /** Every output by key, for anything not named above. */
  readonly raw: Readonly<Record<string, string>>;
}

const squash = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');

function find(outputs: Output[], pattern: RegExp): string | undefined {
  return outputs.find((o) => o.OutputKey && pattern.test(squash(o.OutputKey)))?.OutputValue;
}

/** Maps raw stack outputs to {@link StageOutputs}; output keys are matched by meaning, not exact spelling. */
export function interpretOutputs(stage: string, stacks: Pick<Stack, 'StackName' | 'Outputs'>[]): StageOutputs {
  const outputs = stacks.flatMap((s) => s.Outputs ?? []);
  const stateMachines: Partial<Record<PipelineName, string>> = {};
  for (const pipeline of PIPELINES) {
    const key = squash(pipeline);
    const match = outputs.find(
      (o) =>
        o.OutputValue?.includes(':states:') &&
        o.OutputValue.includes(':stateMachine:') &&
        (squash(o.OutputKey ?? '').includes(key) || squash(o.OutputValue.split(':stateMachine:')[1] ?? '').includes(key)),
    );
    if (match?.OutputValue) stateMachines[pipeline] = match.OutputValue;
  }
  const raw = Object.fromEntries(outputs.filter((o) => o.OutputKey).map((o) => [o.OutputKey!, o.OutputValue ?? '']));
  const value = (pattern: RegExp) => find(outputs, pattern);
  const result: StageOutputs = {
    stage,
    stackName: stacks.map((s) => s.StackName).join(', '),
    applicationId: value(/applicationid$/),
    jobRoleArn: value(/jobrole(arn)?$|jobexecutionrole(arn)?$/),
    lakeBucket: value(/(lake|datalake)bucket(name)?$/),
    modelsBucket: value(/modelsbucket(name)?$/),
    artifactsBucket: value(/artifactsbucket(name)?$/),
    logsBucket: value(/logsbucket(name)?$/),
    dbSecretArn: value(/(db|database)secretarn$/),
    stateMachines,
    raw,
  };
  return result;
}

/** Looks up a stage's platform stacks by name with CloudFormation DescribeStacks. */
export async function loadStageOutputs(cfn: CloudFormationClient, stage: string): Promise<StageOutputs> {
  const stacks: Stack[] = [];
  for (const stackName of platformStackNames(stage)) {
    let stack: Stack | undefined;
    try {
      stack = (await cfn.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
    } catch (err) {
      if ((err as { name?: string }).name === 'ValidationError' && /does not exist/i.test((err as Error).message)) {
        throw new CliError(`Stage "${stage}" is not deployed: stack ${stackName} does not exist in this account and region. Deploy it with "npx cdk deploy -c stage=${stage}" or pick another --stage.`);
      }
      throw err;
    }
    if (!stack) throw new CliError(`Stage "${stage}" is not deployed: stack ${stackName} was not found.`);
    if (stack.StackStatus && /_IN_PROGRESS$/.test(stack.StackStatus) && !stack.Outputs?.length) {
      throw new CliError(`Stack ${stackName} is ${stack.StackStatus}; try again when the deployment has finished.`);
    }
    stacks.push(stack);
  }
  return interpretOutputs(stage, stacks);
}

export function requireOutput<K extends 'applicationId' | 'jobRoleArn' | 'lakeBucket' | 'modelsBucket' | 'artifactsBucket' | 'logsBucket'>(
  outputs: StageOutputs,
  key: K,
): string {
  const value = outputs[key];
  if (!value) throw new CliError(`Stack ${outputs.stackName} has no output for ${key}; redeploy stage "${outputs.stage}" with the current version of this project.`);
  return value;
}

export function requireStateMachine(outputs: StageOutputs, pipeline: string): string {
  if (!(PIPELINES as readonly string[]).includes(pipeline)) {
    throw new CliError(`Unknown pipeline "${pipeline}". Pipelines: ${PIPELINES.join(', ')}.`, 2);
  }
  const arn = outputs.stateMachines[pipeline as PipelineName];
  if (!arn) throw new CliError(`Stack ${outputs.stackName} has no state machine output for pipeline "${pipeline}".`);
  return arn;
}
