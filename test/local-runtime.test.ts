/**
 * The local runtime's machinery on a small hand-written cloud assembly (template + handler bundle + ASL with
 * CloudFormation tokens), independent of the project's CDK app: token resolution, in-process Lambda handlers
 * with their template environment and S3 through the local adapter, a real spark-submit for the
 * `startJobRun.sync` state with success and failure, Retry/Catch, and the SNS alert.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { LocalDeployment } from '../local/deployment';
import { LocalLayout } from '../local/layout';
import { LocalRuntime } from '../local/runtime';
import { startJobRunSyncStatements, statements, trust } from './support/hand-assembly';

const projectRoot = path.resolve(__dirname, '..');
const work = path.join(projectRoot, '.local', 'test-runtime');
const assemblyDir = path.join(work, 'assembly');

const HANDLER = `
const { S3Client, PutObjectCommand, GetObjectCommand } = require('@aws-sdk/client-s3');
const s3 = new S3Client({});
const loadedWithBucket = process.env.LAKE_BUCKET;
exports.handler = async (event, context) => {
  if (event.fail) { const e = new Error('input.fail: refusing as asked'); e.name = 'ValidationError'; throw e; }
  if (event.read) {
    const r = await s3.send(new GetObjectCommand({ Bucket: process.env.LAKE_BUCKET, Key: event.read }));
    return { body: JSON.parse(await r.Body.transformToString()), fn: context.functionName };
  }
  await s3.send(new PutObjectCommand({ Bucket: process.env.LAKE_BUCKET, Key: 'in/' + event.name + '.json', Body: JSON.stringify(event) }));
  console.log('wrote', event.name);
  return { wrote: 's3://' + process.env.LAKE_BUCKET + '/in/' + event.name + '.json', loadedWithBucket, region: process.env.AWS_REGION,
           application: process.env.APPLICATION_ID, exitCode: event.exitCode };
};
`;

// A job entry point: copies its --input object to --output with boto3 (as a job would on EMR: the role's
// credentials and the endpoint come from its environment), then exits with --exit-code.
const JOB = `
import argparse, json, sys
import boto3
p = argparse.ArgumentParser()
p.add_argument('--input'); p.add_argument('--output'); p.add_argument('--exit-code', type=int, default=0)
a = p.parse_args()
s3 = boto3.client('s3')
split = lambda uri: uri[len('s3://'):].split('/', 1)
bucket, key = split(a.input)
data = json.loads(s3.get_object(Bucket=bucket, Key=key)['Body'].read())
if a.exit_code:
    print('Traceback (most recent call last):', file=sys.stderr)
    print('RuntimeError: job asked to fail with %d' % a.exit_code, file=sys.stderr)
    sys.exit(a.exit_code)
bucket, key = split(a.output)
s3.put_object(Bucket=bucket, Key=key, Body=json.dumps({'copied': data, 'python': sys.executable}))
`;


function writeAssembly(): void {
  rmSync(work, { recursive: true, force: true });
  mkdirSync(path.join(assemblyDir, 'asset.handler'), { recursive: true });
  writeFileSync(path.join(assemblyDir, 'asset.handler', 'index.js'), HANDLER);
  const definition = {
    StartAt: 'Write input',
    States: {
      'Write input': { Type: 'Task', Resource: '${WriterArn}', ResultPath: '$.written', Next: 'Run job', Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Notify failure' }] },
      'Run job': {
        Type: 'Task',
        Resource: 'arn:aws:states:::emr-serverless:startJobRun.sync',
        Parameters: {
          ApplicationId: '${AppId}',
          ExecutionRoleArn: '${RoleArn}',
          Name: 'copy',
          'ClientToken.$': "States.Format('{}-copy', $$.Execution.Name)",
          ExecutionTimeoutMinutes: 5,
          JobDriver: {
            SparkSubmit: {
              EntryPoint: 's3://${Artifacts}/jobs/copy_job.py',
              'EntryPointArguments.$': "States.Array('--input', $.written.wrote, '--output', States.Format('s3://${Lake}/out/{}.json', $.name), '--exit-code', States.Format('{}', $.exitCode))",
              SparkSubmitParameters: '--conf spark.executor.cores=4 --conf spark.emr-serverless.driverEnv.JOB_FLAVOUR=local-test --conf spark.sql.shuffle.partitions=3',
            },
          },
          ConfigurationOverrides: { MonitoringConfiguration: { S3MonitoringConfiguration: { LogUri: 's3://${Lake}/emr/' } } },
        },
        ResultSelector: { 'JobRunId.$': '$.JobRunId', 'State.$': '$.State' },
        ResultPath: '$.jobRun',
        TimeoutSeconds: 600,
        Retry: [{ ErrorEquals: ['EMRServerless.ThrottlingException'], MaxAttempts: 2 }],
        Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Notify failure' }],
        Next: 'Read output',
      },
      'Read output': {
        Type: 'Task',
        Resource: 'arn:aws:states:::lambda:invoke',
        Parameters: { FunctionName: '${WriterArn}', 'Payload': { 'read.$': "States.Format('out/{}.json', $.name)" } },
        ResultSelector: { 'body.$': '$.Payload.body', 'fn.$': '$.Payload.fn' },
        ResultPath: '$.output',
        End: true,
      },
      'Notify failure': {
        Type: 'Task',
        Resource: 'arn:aws:states:::sns:publish',
        Parameters: { TopicArn: '${TopicArn}', 'Message.$': "States.Format('{} failed: {}', $$.Execution.Name, $.error.Error)" },
        ResultPath: null,
        Next: 'Failed',
      },
      Failed: { Type: 'Fail', 'ErrorPath': '$.error.Error', 'CausePath': '$.error.Cause' },
    },
  };
  // DefinitionString as CDK renders it: Fn::Join of literal pieces and tokens.
  const pieces = JSON.stringify(definition).split(/(\$\{[A-Za-z]+\})/);
  const tokens: Record<string, unknown> = {
    '${WriterArn}': { 'Fn::GetAtt': ['WriterFunction1A2B3C4D', 'Arn'] },
    '${AppId}': { 'Fn::GetAtt': ['SparkApp5E6F7A8B', 'ApplicationId'] },
    '${RoleArn}': { 'Fn::GetAtt': ['JobRole9C0D1E2F', 'Arn'] },
    '${Artifacts}': { Ref: 'ArtifactsBucket11223344' },
    '${Lake}': { Ref: 'LakeBucket55667788' },
    '${TopicArn}': { Ref: 'AlertsTopicAABBCCDD' },
  };
  const template = {
    Resources: {
      LakeBucket55667788: { Type: 'AWS::S3::Bucket', Properties: {} },
      ArtifactsBucket11223344: { Type: 'AWS::S3::Bucket', Properties: { BucketName: { 'Fn::Join': ['', ['artifacts-', { Ref: 'AWS::AccountId' }]] } } },
      AlertsTopicAABBCCDD: { Type: 'AWS::SNS::Topic', Properties: {} },
      JobRole9C0D1E2F: {
        Type: 'AWS::IAM::Role',
        Properties: { AssumeRolePolicyDocument: trust('emr-serverless.amazonaws.com') },
      },
      JobRolePolicy00AA11BB: {
        Type: 'AWS::IAM::Policy',
        Properties: {
          PolicyName: 'job',
          Roles: [{ Ref: 'JobRole9C0D1E2F' }],
          PolicyDocument: statements(
            { Action: 's3:GetObject', Resource: [{ 'Fn::Join': ['', [{ 'Fn::GetAtt': ['ArtifactsBucket11223344', 'Arn'] }, '/jobs/*']] }, { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['LakeBucket55667788', 'Arn'] }, '/in/*']] }] },
            { Action: 's3:PutObject', Resource: [{ 'Fn::Join': ['', [{ 'Fn::GetAtt': ['LakeBucket55667788', 'Arn'] }, '/out/*']] }, { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['LakeBucket55667788', 'Arn'] }, '/emr/*']] }] },
          ),
        },
      },
      WriterRole22CC33DD: { Type: 'AWS::IAM::Role', Properties: { AssumeRolePolicyDocument: trust('lambda.amazonaws.com') } },
      WriterRolePolicy44EE55FF: {
        Type: 'AWS::IAM::Policy',
        Properties: {
          PolicyName: 'writer',
          Roles: [{ Ref: 'WriterRole22CC33DD' }],
          PolicyDocument: statements({ Action: ['s3:GetObject', 's3:PutObject'], Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['LakeBucket55667788', 'Arn'] }, '/*']] } }),
        },
      },
      PipelineRole66AA77BB: { Type: 'AWS::IAM::Role', Properties: { AssumeRolePolicyDocument: trust('states.amazonaws.com') } },
      PipelineRolePolicy88CC99DD: {
        Type: 'AWS::IAM::Policy',
        Properties: {
          PolicyName: 'pipeline',
          Roles: [{ Ref: 'PipelineRole66AA77BB' }],
          PolicyDocument: statements(
            { Action: 'lambda:InvokeFunction', Resource: { 'Fn::GetAtt': ['WriterFunction1A2B3C4D', 'Arn'] } },
            ...startJobRunSyncStatements('SparkApp5E6F7A8B', 'JobRole9C0D1E2F', { tagResource: true }),
            { Action: 'sns:Publish', Resource: { Ref: 'AlertsTopicAABBCCDD' } },
          ),
        },
      },
      SparkApp5E6F7A8B: { Type: 'AWS::EMRServerless::Application', Properties: { ReleaseLabel: 'emr-spark-8.0.0', Type: 'SPARK' } },
      WriterFunction1A2B3C4D: {
        Type: 'AWS::Lambda::Function',
        Properties: {
          Handler: 'index.handler',
          Runtime: 'nodejs22.x',
          Timeout: 30,
          Role: { 'Fn::GetAtt': ['WriterRole22CC33DD', 'Arn'] },
          Environment: { Variables: { LAKE_BUCKET: { Ref: 'LakeBucket55667788' }, ARTIFACTS_BUCKET: { Ref: 'ArtifactsBucket11223344' }, APPLICATION_ID: { 'Fn::GetAtt': ['SparkApp5E6F7A8B', 'ApplicationId'] } } },
        },
        Metadata: { 'aws:asset:path': 'asset.handler' },
      },
      PipelineStateMachine99887766: {
        Type: 'AWS::StepFunctions::StateMachine',
        Properties: {
          StateMachineName: 'local-test-pipeline',
          RoleArn: { 'Fn::GetAtt': ['PipelineRole66AA77BB', 'Arn'] },
          DefinitionString: { 'Fn::Join': ['', pieces.map((p) => tokens[p] ?? p)] },
        },
      },
    },
  };
  writeFileSync(path.join(assemblyDir, 'TestStack.template.json'), JSON.stringify(template));
  writeFileSync(
    path.join(assemblyDir, 'manifest.json'),
    JSON.stringify({ version: '1', artifacts: { TestStack: { type: 'aws:cloudformation:stack', properties: { templateFile: 'TestStack.template.json' } } } }),
  );
}

describe('LocalDeployment', () => {
  beforeAll(writeAssembly);

  it('resolves the definition tokens and the function environment to local resources', () => {
    const deployment = LocalDeployment.fromAssembly(assemblyDir);
    expect(deployment.buckets.map((b) => b.name).sort()).toEqual(['artifacts-000000000000', 'lake-bucket']);
    const sm = deployment.stateMachine('test-pipeline');
    expect(sm.name).toBe('local-test-pipeline');
    const run = (sm.definition.States as Record<string, any>)['Run job'];
    expect(run.Parameters.ApplicationId).toBe(deployment.applications[0].applicationId);
    expect(run.Parameters.ApplicationId).toMatch(/^[0-9a-z]{16}$/);
    expect(run.Parameters.ExecutionRoleArn).toBe('arn:aws:iam::000000000000:role/TestStack-JobRole');
    expect(run.Parameters.JobDriver.SparkSubmit.EntryPoint).toBe('s3://artifacts-000000000000/jobs/copy_job.py');
    const fn = deployment.findFunction((sm.definition.States as Record<string, any>)['Write input'].Resource)!;
    expect(fn.environment).toEqual({ LAKE_BUCKET: 'lake-bucket', ARTIFACTS_BUCKET: 'artifacts-000000000000', APPLICATION_ID: run.Parameters.ApplicationId });
    expect(fn.timeoutSeconds).toBe(30);
    expect(() => deployment.stateMachine('nope')).toThrow('No state machine "nope" in the synthesized app; state machines: local-test-pipeline');
  });
});

describe('LocalRuntime on a hand-written assembly', () => {
  let runtime: LocalRuntime;
  beforeAll(async () => {
    writeAssembly();
    runtime = await LocalRuntime.deploy(projectRoot, new LocalLayout(path.join(work, 'root')).ensure(), LocalDeployment.fromAssembly(assemblyDir));
    const layout = runtime.layout;
    mkdirSync(path.join(layout.bucketDir('artifacts-000000000000'), 'jobs'), { recursive: true });
    writeFileSync(path.join(layout.bucketDir('artifacts-000000000000'), 'jobs', 'copy_job.py'), JOB);
  });
  afterAll(() => runtime.close());

  it('runs Lambda → spark-submit → lambda:invoke to SUCCEEDED with the template environment', async () => {
    const record = await runtime.run('local-test-pipeline', { name: 'ok', exitCode: 0 }, { executionName: 'exec-ok' });
    expect(record.status).toBe('SUCCEEDED');
    const output = record.output as any;
    expect(output.written.loadedWithBucket).toBe('lake-bucket');
    expect(output.written.region).toBe('us-east-1');
    expect(output.jobRun.State).toBe('SUCCESS');
    expect(output.jobRun.JobRunId).toMatch(/^[0-9a-z]{18}$/);
    expect(output.output.body.copied).toEqual({ name: 'ok', exitCode: 0 });
    expect(output.output.body.python).toBe(path.join(projectRoot, '.venv', 'bin', 'python'));
    expect(output.output.fn).toBe('TestStack-WriterFunction');
    expect(record.steps.map((s) => [s.name, s.status])).toEqual([
      ['Write input', 'succeeded'],
      ['Run job', 'succeeded'],
      ['Read output', 'succeeded'],
    ]);
    const commandLine = readFileSync(record.steps[1].logFile!, 'utf8').split('\n').find((l) => l.includes('bin/spark-submit'))!;
    expect(commandLine).toContain('spark-submit --master local[2]');
    expect(commandLine).not.toContain('spark.executor.cores'); // cloud sizing is dropped locally
    expect(commandLine).not.toContain('spark.emr-serverless');
    expect(commandLine).toContain('--conf spark.sql.shuffle.partitions=3');
    expect(commandLine).toMatch(/copy_job\.py --input s3:\/\/lake-bucket\/in\/ok\.json --output s3:\/\/lake-bucket\/out\/ok\.json --exit-code 0$/);
    expect(readFileSync(record.steps[0].logFile!, 'utf8')).toContain('wrote ok');
    const driverLogs = path.join(runtime.layout.s3Root, 'lake-bucket', 'emr', 'applications', runtime.deployment.applications[0].applicationId, 'jobs', output.jobRun.JobRunId, 'SPARK_DRIVER');
    expect(existsSync(path.join(driverLogs, 'stderr.gz'))).toBe(true);
  });

  it('turns a non-zero job exit into States.TaskFailed, caught → SNS alert → Fail', async () => {
    const record = await runtime.run('local-test-pipeline', { name: 'bad', exitCode: 3 }, { executionName: 'exec-bad' });
    expect(record.status).toBe('FAILED');
    expect(record.error).toBe('States.TaskFailed');
    const cause = JSON.parse(record.cause!);
    expect(cause.State).toBe('FAILED');
    expect(cause.StateDetails).toContain('ExitCode: 3');
    expect(cause.StateDetails).toContain('RuntimeError: job asked to fail with 3');
    expect(record.steps.map((s) => [s.name, s.status])).toEqual([
      ['Write input', 'succeeded'],
      ['Run job', 'caught'],
      ['Notify failure', 'succeeded'],
      ['Failed', 'failed'],
    ]);
    const alerts = readFileSync(runtime.layout.alertsFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(alerts.at(-1)).toMatchObject({ message: 'exec-bad failed: States.TaskFailed', topicArn: 'arn:aws:sns:us-east-1:000000000000:TestStack-AlertsTopic' });
  });

  it('reports a handler error with its errorType, caught by the definition', async () => {
    const record = await runtime.run('local-test-pipeline', { name: 'x', fail: true }, { executionName: 'exec-invalid' });
    expect(record.status).toBe('FAILED');
    expect(record.error).toBe('ValidationError');
    expect(JSON.parse(record.cause!)).toMatchObject({ errorType: 'ValidationError', errorMessage: 'input.fail: refusing as asked' });
  });
});
