import { interpretOutputs, PIPELINES, platformStackNames } from '../cli/stage-outputs';
import { stackNames } from '../lib/stacks/platform';
import { PLATFORM_OUTPUT_KEYS, stateMachineOutputKey } from '../lib/stacks/platform-outputs';
import { PIPELINE_NAMES } from '../lib/pipelines/common';

test('the CLI looks for the stacks the CDK app deploys', () => {
  for (const stage of ['dev', 'prod', 'team-a']) expect(platformStackNames(stage)).toEqual(Object.values(stackNames(stage)));
});

test('the CLI knows every pipeline the CDK app defines', () => {
  expect([...PIPELINES].sort()).toEqual([...PIPELINE_NAMES].sort());
});

test('every output the platform writes is understood by the CLI', () => {
  const arn = (p: string) => `arn:aws:states:eu-west-1:123456789012:stateMachine:emr-ml-dev-${p}`;
  const outputs = [
    { OutputKey: PLATFORM_OUTPUT_KEYS.lakeBucket, OutputValue: 'lake-b' },
    { OutputKey: PLATFORM_OUTPUT_KEYS.modelsBucket, OutputValue: 'models-b' },
    { OutputKey: PLATFORM_OUTPUT_KEYS.artifactsBucket, OutputValue: 'artifacts-b' },
    { OutputKey: PLATFORM_OUTPUT_KEYS.logsBucket, OutputValue: 'logs-b' },
    { OutputKey: PLATFORM_OUTPUT_KEYS.applicationId, OutputValue: '00abc' },
    { OutputKey: PLATFORM_OUTPUT_KEYS.jobRoleArn, OutputValue: 'arn:aws:iam::123456789012:role/job' },
    { OutputKey: PLATFORM_OUTPUT_KEYS.dbSecretArn, OutputValue: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf' },
    ...PIPELINE_NAMES.map((p) => ({ OutputKey: stateMachineOutputKey(p), OutputValue: arn(p) })),
  ];
  const o = interpretOutputs('dev', [{ StackName: 'emr-ml-dev', Outputs: outputs }]);
  expect(o).toMatchObject({
    stackName: 'emr-ml-dev',
    lakeBucket: 'lake-b',
    modelsBucket: 'models-b',
    artifactsBucket: 'artifacts-b',
    logsBucket: 'logs-b',
    applicationId: '00abc',
    jobRoleArn: 'arn:aws:iam::123456789012:role/job',
    dbSecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-AbCdEf',
  });
  expect(o.stateMachines).toEqual(Object.fromEntries(PIPELINE_NAMES.map((p) => [p, arn(p)])));
});
