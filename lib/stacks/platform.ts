import type { Construct } from 'constructs';
import type { StageConfig } from '../config/stage-config';
import { PlatformStack } from './platform-stack';

/** Stack name of a stage: the whole platform is one stack. */
export const platformStackName = (stage: string): string => `emr-ml-${stage}`;

/** Every stack name of a stage, by role (one stack today). */
export const stackNames = (stage: string): { readonly platform: string } => ({ platform: platformStackName(stage) });

/**
 * The stage's stacks by role. Storage and pipelines live in one stack (IAM policies reference the buckets
 * directly; no cross-stack exports pin them), so `storage` and `pipelines` are the same `PlatformStack`.
 */
export interface Platform {
  readonly stack: PlatformStack;
  readonly storage: PlatformStack;
  readonly pipelines: PlatformStack;
}

/** Adds the platform of one stage to `scope` (an App, or a Stage of a deployment pipeline). */
export function addPlatform(
  scope: Construct,
  config: StageConfig,
  options: { readonly artifactsDir?: string; readonly acceptHostArtifacts?: boolean } = {},
): Platform {
  const env = config.account || config.region ? { account: config.account, region: config.region } : undefined;
  const stack = new PlatformStack(scope, platformStackName(config.stage), {
    // explicit, so inside a deployment-pipeline Stage the name stays emr-ml-<stage> (the CLI finds stages by it)
    stackName: platformStackName(config.stage),
    config,
    artifactsDir: options.artifactsDir,
    acceptHostArtifacts: options.acceptHostArtifacts,
    env,
    tags: { project: 'emr-ml-pipelines', stage: config.stage },
    description: `ML pipelines on EMR Serverless (${config.stage}): storage, Spark application, state machines, schedules, alerts`,
  });
  return { stack, storage: stack, pipelines: stack };
}
