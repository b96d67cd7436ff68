import type { Construct } from 'constructs';
import type { StageConfig } from '../config/stage-config';
import { PlatformStack } from './platform-stack';

/** Stack name of a stage. */
export const platformStackName = (stage: string): string => `emr-ml-${stage}`;

/**
 * Adds the platform stack of one stage to `scope` (an App, or a Stage of a deployment pipeline).
 */
export function addPlatform(scope: Construct, config: StageConfig): PlatformStack {
  const env = config.account || config.region ? { account: config.account, region: config.region } : undefined;
  return new PlatformStack(scope, platformStackName(config.stage), {
    config,
    env,
    tags: { project: 'emr-ml-pipelines', stage: config.stage },
    description: `ML pipelines on EMR Serverless (${config.stage}): storage, Spark application, state machines, schedules, alerts`,
  });
}
