import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { EMRServerlessClient } from '@aws-sdk/client-emr-serverless';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../cli';
import type { CliIo } from '../cli/context';

/** Shared set-up of the CLI tests: mocked AWS clients, a deployed-stage stack, captured output. */

export const ACCOUNT = '123456789012';
export const smArn = (name: string) => `arn:aws:states:us-east-1:${ACCOUNT}:stateMachine:dev-${name}`;

export const STORAGE_OUTPUTS = [
  { OutputKey: 'LakeBucketName', OutputValue: 'dev-lake-bucket' },
  { OutputKey: 'ModelsBucketName', OutputValue: 'dev-models-bucket' },
  { OutputKey: 'ArtifactsBucketName', OutputValue: 'dev-artifacts-bucket' },
  { OutputKey: 'LogsBucketName', OutputValue: 'dev-logs-bucket' },
];
export const PIPELINES_OUTPUTS = [
  { OutputKey: 'ApplicationId', OutputValue: '00fabc123def' },
  { OutputKey: 'JobRoleArn', OutputValue: `arn:aws:iam::${ACCOUNT}:role/dev-emr-job-role` },
  { OutputKey: 'RecommenderTrainingStateMachineArn', OutputValue: smArn('recommender-training') },
  { OutputKey: 'DriftRetrainStateMachineArn', OutputValue: smArn('drift-retrain') },
  { OutputKey: 'NewsEnrichmentStateMachineArn', OutputValue: smArn('news-enrichment') },
  { OutputKey: 'TaxiMedallionStateMachineArn', OutputValue: smArn('taxi-medallion') },
];

export const cfn = mockClient(CloudFormationClient);
export const sfn = mockClient(SFNClient);
export const emr = mockClient(EMRServerlessClient);
export const s3 = mockClient(S3Client);

export function resetMocks(): void {
  for (const m of [cfn, sfn, emr, s3]) m.reset();
  cfn.on(DescribeStacksCommand, { StackName: 'emr-ml-dev' }).resolves({
    Stacks: [{ StackName: 'emr-ml-dev', StackStatus: 'UPDATE_COMPLETE', CreationTime: new Date(), Outputs: [...STORAGE_OUTPUTS, ...PIPELINES_OUTPUTS] }],
  });
}

export const NOW = new Date('2026-11-21T12:00:00Z');

export interface Captured {
  readonly code: number;
  readonly out: string[];
  readonly err: string[];
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `emrpipe <args>` in-process (region us-east-1, no poll delay). */
export async function cli(args: string[], cwd = mkdtempSync(join(tmpdir(), 'emrpipe-'))): Promise<Captured> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (t) => out.push(t), err: (t) => err.push(t), sleep: async () => undefined, now: () => NOW, cwd };
  const code = await main(['--region', 'us-east-1', '--poll-seconds', '0', ...args], io);
  return { code, out, err, stdout: out.join('\n'), stderr: err.join('\n') };
}
