import { CfnOutput } from 'aws-cdk-lib';
import type { PipelineName } from '../pipelines/common';
import type { Platform } from './platform';

/**
 * CloudFormation outputs of a stage's platform stacks, read by the operator CLI (`emrpipe`, cli/stage-outputs.ts)
 * and by the deployment pipeline's smoke test. Keys are fixed: the CLI finds a deployed stage by its stack name
 * (`stackNames(stage)`, today the one stack `emr-ml-<stage>`) and these keys.
 */
export const PLATFORM_OUTPUT_KEYS = {
  lakeBucket: 'LakeBucketName',
  modelsBucket: 'ModelsBucketName',
  artifactsBucket: 'ArtifactsBucketName',
  logsBucket: 'LogsBucketName',
  applicationId: 'ApplicationId',
  jobRoleArn: 'JobRoleArn',
  dbSecretArn: 'DbSecretArn',
} as const;

const pascal = (name: string) => name.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase());

/** `recommender-training` → `RecommenderTrainingStateMachineArn`. */
export const stateMachineOutputKey = (pipeline: PipelineName | string): string => `${pascal(pipeline)}StateMachineArn`;

export interface PlatformOutputs {
  readonly stateMachineArns: Record<PipelineName, CfnOutput>;
  readonly lakeBucketName: CfnOutput;
  readonly modelsBucketName: CfnOutput;
}

/** Adds the outputs the CLI needs to the platform's stack(s) (storage outputs to the storage role's stack). */
export function addPlatformOutputs(platform: Platform): PlatformOutputs {
  const { storage: storageStack, pipelines } = platform;
  const s = storageStack.storage;
  const out = (scope: typeof storageStack | typeof pipelines, id: string, value: string, description: string) =>
    new CfnOutput(scope, id, { value, description });
  const lakeBucketName = out(storageStack, PLATFORM_OUTPUT_KEYS.lakeBucket, s.lakeBucket.bucketName, 'Data lake bucket (bronze/, silver/, gold/, runs/, tmp/)');
  const modelsBucketName = out(storageStack, PLATFORM_OUTPUT_KEYS.modelsBucket, s.modelsBucket.bucketName, 'Versioned models bucket');
  out(storageStack, PLATFORM_OUTPUT_KEYS.artifactsBucket, s.artifactsBucket.bucketName, 'Job artifacts bucket (artifacts/, manifests/)');
  out(storageStack, PLATFORM_OUTPUT_KEYS.logsBucket, s.logsBucket.bucketName, 'Logs bucket (emr/ job logs, access/)');
  out(pipelines, PLATFORM_OUTPUT_KEYS.applicationId, pipelines.sparkApplication.applicationId, 'EMR Serverless application id');
  out(pipelines, PLATFORM_OUTPUT_KEYS.jobRoleArn, pipelines.jobRole.roleArn, 'EMR Serverless job execution role');
  if (pipelines.database) out(pipelines, PLATFORM_OUTPUT_KEYS.dbSecretArn, pipelines.database.secret.secretArn, 'Database credentials secret');
  const stateMachineArns = Object.fromEntries(
    Object.entries(pipelines.stateMachines).map(([name, machine]) => [
      name,
      out(pipelines, stateMachineOutputKey(name), machine.stateMachine.stateMachineArn, `State machine of pipeline ${name}`),
    ]),
  ) as Record<PipelineName, CfnOutput>;
  return { stateMachineArns, lakeBucketName, modelsBucketName };
}
