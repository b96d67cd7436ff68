import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { loadStageConfig, parseStageConfig } from '../lib/config/stage-config';
import { JOB_RUN_TAG_KEYS } from '../lib/jobs/job-request-builder';
import { planEnvironmentFor, PROMOTABLE_POINTER_KEYS } from '../lib/pipelines/common';
import { plan as driftPlan } from '../lib/pipelines/drift-retrain';
import { plan as newsPlan } from '../lib/pipelines/news-enrichment';
import { plan as recommenderPlan } from '../lib/pipelines/recommender-training';
import { writeArtifacts } from './support/artifacts-fixture';
import { synthPlatform } from './support/cdk-platform';
import { parseS3Uri } from '../local/layout';
import { bucketName, deployedIam, functionRole, identityStatements, stateMachineRole } from './support/local-iam';

const ctx = (values: Record<string, unknown>) => (key: string) => values[key];

describe('stage configuration', () => {
  test('an empty dev stage gets every default', () => {
    const cfg = loadStageConfig(ctx({ stages: { dev: {} } }));
    expect(cfg).toMatchObject({
      stage: 'dev',
      releaseLabel: 'emr-spark-8.0.0',
      architecture: 'X86_64',
      idleTimeoutMinutes: 15,
      jobTimeoutMinutes: 120,
      destroyDataOnDelete: true,
      database: { mode: 'none' },
      schedules: { enabled: false },
      maximumCapacity: { cpu: '32 vCPU', memory: '128 GB', disk: '1000 GB' },
    });
    expect(cfg.account).toBeUndefined();
  });
  test('an unknown stage fails naming the defined stages', () => {
    expect(() => loadStageConfig(ctx({ stage: 'qa', stages: { dev: {}, prod: {} } }))).toThrow('Unknown stage "qa": cdk.json context "stages" defines dev, prod');
  });
  test('an invalid value fails naming the field', () => {
    expect(() => parseStageConfig('prod', { maximumCapacity: { cpu: 'lots' } })).toThrow(/stages\.prod\.maximumCapacity\.cpu: must look like "100 vCPU"/);
    expect(() => parseStageConfig('prod', { architecture: 'SPARC' })).toThrow(/stages\.prod\.architecture/);
    expect(() => parseStageConfig('prod', { logRetentionDays: 10 })).toThrow(/stages\.prod\.logRetentionDays: must be one of/);
    expect(() => parseStageConfig('prod', { database: { mode: 'existing', vpcId: 'vpc-1' } })).toThrow(/stages\.prod\.database\.secretArn/);
    expect(() => parseStageConfig('prod', { schedules: { driftRetrain: { expression: 'every day' } } })).toThrow(/stages\.prod\.schedules\.driftRetrain\.expression/);
  });
  test('destroying data on delete is only allowed in dev', () => {
    expect(() => parseStageConfig('prod', { destroyDataOnDelete: true })).toThrow('stages.prod.destroyDataOnDelete: only allowed in stage "dev"');
  });
});

describe('platform stack (dev)', () => {
  const { template } = synthPlatform('dev');

  test('four buckets: encrypted, TLS enforced, public access blocked, multipart aborted, access logged', () => {
    const buckets = template.findResources('AWS::S3::Bucket');
    expect(Object.keys(buckets)).toHaveLength(4);
    for (const [id, b] of Object.entries(buckets)) {
      const p = b.Properties;
      expect(p.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBe('AES256');
      expect(p.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
      expect(p.LifecycleConfiguration.Rules).toContainEqual(expect.objectContaining({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }));
      if (!id.startsWith('StorageLogs')) {
        expect(p.LoggingConfiguration).toEqual({ DestinationBucketName: { Ref: expect.stringMatching(/^StorageLogs/) }, LogFilePrefix: expect.stringMatching(/^access\//) });
      }
    }
    const policies = Object.values(template.findResources('AWS::S3::BucketPolicy'));
    expect(policies).toHaveLength(4);
    for (const p of policies) {
      expect(p.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
    template.hasResourceProperties('AWS::S3::Bucket', { VersioningConfiguration: { Status: 'Enabled' }, LoggingConfiguration: { LogFilePrefix: 'access/models/' } });
    template.hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: { LogFilePrefix: 'access/lake/' },
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Prefix: 'tmp/', ExpirationInDays: 30, Status: 'Enabled' })]) },
    });
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Prefix: 'emr/', ExpirationInDays: 30 })]) },
    });
    // smoke runs' namespaces are disposable, in the lake and in the models bucket
    for (const prefix of ['access/lake/', 'access/models/']) {
      template.hasResourceProperties('AWS::S3::Bucket', {
        LoggingConfiguration: { LogFilePrefix: prefix },
        LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Id: 'expire-smoke', Prefix: 'smoke/', ExpirationInDays: 30, Status: 'Enabled' })]) },
      });
    }
  });

  test('Spark application: idle costs nothing, capped, auto start/stop, S3 logs, no VPC without a database', () => {
    const apps = template.findResources('AWS::EMRServerless::Application');
    expect(Object.keys(apps)).toHaveLength(1);
    const p = Object.values(apps)[0]!.Properties;
    expect(p).toMatchObject({
      Type: 'SPARK',
      ReleaseLabel: 'emr-spark-8.0.0',
      Architecture: 'X86_64',
      AutoStartConfiguration: { Enabled: true },
      AutoStopConfiguration: { Enabled: true, IdleTimeoutMinutes: 15 },
      MaximumCapacity: { Cpu: '32 vCPU', Memory: '128 GB', Disk: '1000 GB' },
      SchedulerConfiguration: { MaxConcurrentRuns: 5, QueueTimeoutMinutes: 60 },
    });
    expect(p.InitialCapacity).toBeUndefined();
    expect(p.NetworkConfiguration).toBeUndefined();
    expect(JSON.stringify(p.MonitoringConfiguration.S3MonitoringConfiguration.LogUri)).toMatch(/StorageLogs.*\/emr\//);
  });

  test('job role: trusted by EMR Serverless from this account and application only; exactly the job prefixes', () => {
    const roles = template.findResources('AWS::IAM::Role', { Properties: { Description: Match.stringLikeRegexp('^EMR Serverless job runs') } });
    const role = Object.values(roles)[0]!.Properties;
    expect(role.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Action: 'sts:AssumeRole',
        Effect: 'Allow',
        Principal: { Service: 'emr-serverless.amazonaws.com' },
        Condition: { StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } }, ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [expect.stringMatching(/^Spark/), 'Arn'] } } },
      },
    ]);
    expect(role.ManagedPolicyArns).toBeUndefined();
    const policy = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { PolicyName: Match.stringLikeRegexp('^JobRolePolicy') } }))[0]!;
    const statements = policy.Properties.PolicyDocument.Statement as any[];
    const prefixes = (sid: string) =>
      [statements.find((s) => s.Sid === sid).Resource].flat().map((r: any) => r['Fn::Join'][1].slice(1).join(''));
    expect(prefixes('Read0')).toEqual(['/bronze/*', '/bronze/netflix/stream/*', '/silver/*', '/gold/*', '/runs/*', '/tmp/*', '/smoke/*']);
    expect(prefixes('Write0')).toEqual(['/bronze/netflix/stream/*', '/silver/*', '/gold/*', '/runs/*', '/tmp/*', '/smoke/*']);
    expect(prefixes('Write1')).toEqual(['/recommender/*', '/topic/*', '/smoke/*']);
    expect(prefixes('Read2')).toEqual(['/artifacts/*', '/manifests/*']);
    expect(prefixes('Write3')).toEqual(['/emr/*']);
    expect(statements.find((s) => s.Sid === 'Read3')).toBeUndefined(); // logs are write-only
    expect(statements.find((s) => s.Sid === 'List0').Condition.StringLike['s3:prefix']).toContain('silver/*');
    const actions = statements.flatMap((s) => [s.Action].flat());
    expect(actions.some((a: string) => a.endsWith(':*') || a === '*')).toBe(false);
    expect(actions).not.toContain('secretsmanager:GetSecretValue'); // no database configured
  });

  test('schedules are EventBridge Scheduler schedules, DISABLED in dev', () => {
    const schedules = Object.values(template.findResources('AWS::Scheduler::Schedule'));
    expect(schedules.map((s) => [s.Properties.ScheduleExpression, s.Properties.State])).toEqual([
      ['rate(1 hour)', 'DISABLED'],
      ['cron(0 3 * * ? *)', 'DISABLED'],
    ]);
  });

  test('EMR Serverless job-run FAILED events of the application go to notify-job-failure, which may publish and read the logs; dashboard exists', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.emr-serverless'],
        'detail-type': ['EMR Serverless Job Run State Change'],
        detail: { state: ['FAILED'], applicationId: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^Spark'), 'ApplicationId'] }] },
      },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NotifyJobFailureFunction'), 'Arn'] }, DeadLetterConfig: Match.anyValue(), RetryPolicy: { MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 7200 } })],
    });
    // EventBridge may invoke it (resource policy, this rule only); it publishes to the alerts topic and reads emr/ logs
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 'events.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NotifyJobFailureFunction'), 'Arn'] },
      SourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^MonitoringJobRunFailed'), 'Arn'] },
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'ML pipelines: notify-job-failure',
      Environment: { Variables: Match.objectLike({ STAGE: 'dev', ALERTS_TOPIC_ARN: { Ref: Match.stringLikeRegexp('^AlertsTopic') } }) },
    });
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(dashboards[0]!.Properties.DashboardBody);
    for (const metric of ['ExecutionsFailed', 'ExecutionTime', 'ServiceIntegrationTime', 'FailedJobs']) expect(body).toContain(metric);
    // emr-spark-8.0.0 (the default) publishes by ApplicationName/JobName (R6; test/cdk-monitoring.test.ts)
    expect(body).toContain('\\"ApplicationName\\",\\"emr-ml-dev\\"');
    expect(body).toContain("WHERE ApplicationName = 'emr-ml-dev' GROUP BY JobName");
  });

  test('Lambdas: Node.js 24, ARM64, tracing, JSON logs, bundled; handler env per contract', () => {
    const fns = template.findResources('AWS::Lambda::Function', { Properties: { Description: Match.stringLikeRegexp('^ML pipelines: ') } });
    expect(Object.values(fns).map((f) => String(f.Properties.Description).replace(/^ML pipelines: ([a-z-]+).*$/, '$1')).sort()).toEqual([
      'build-job-request',
      'check-articles',
      'evaluation-gate',
      'ingest-taxi-month',
      'notify-job-failure',
      'package-dependencies',
      'promote-model',
      'read-result',
      'record-job-cost',
      'start-job-run',
      'validate-input',
    ]);
    for (const f of Object.values(fns)) {
      expect(f.Properties).toMatchObject({ Runtime: 'nodejs24.x', Architectures: ['arm64'], TracingConfig: { Mode: 'Active' }, LoggingConfig: { LogFormat: 'JSON', ApplicationLogLevel: 'INFO', SystemLogLevel: 'WARN', LogGroup: expect.anything() } });
    }
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'ML pipelines: build-job-request',
      Environment: { Variables: Match.objectLike({ STAGE: 'dev', JOB_TIMEOUT_MINUTES: '120', MANIFEST_KEY: 'manifests/current.json', APPLICATION_ID: Match.anyValue(), JOB_ROLE_ARN: Match.anyValue() }) },
    });
  });
});

/**
 * The plans' S3 reads and writes against the deployed roles, decided by the project's IAM evaluator (local/iam) over
 * the template's identity and bucket policies (a missing key reads as 404 only with s3:ListBucket for its prefix,
 * `mayListBucket`). Deploy review D3 and D4: the news job wrote its state where its role may not write, and the
 * smoke run used prefixes no role was granted.
 */
describe('what the plans read and write is what the deployed roles may do (D3, D4)', () => {
  const { template } = synthPlatform('dev');
  const { deployment, authz } = deployedIam(template);
  const lake = bucketName(deployment, 'StorageLake');
  const models = bucketName(deployment, 'StorageModels');
  const env = planEnvironmentFor(parseStageConfig('dev', {}), { lakeBucket: lake, modelsBucket: models });
  const jobRole = authz.store.bindings.jobRoles[0]!.roleArn;
  const allowed = async (principalArn: string, operation: string, uri: string) => {
    const { bucket, key } = parseS3Uri(uri);
    return (await authz.authorize({ principalArn, operation, params: { Bucket: bucket, Key: key } })).allowed;
  };
  /** GetObject, and ListBucket for the key (so a missing object is 404 NoSuchKey, not 403). */
  const canRead = async (principalArn: string, uri: string) => {
    const { bucket, key } = parseS3Uri(uri);
    return (await allowed(principalArn, 'S3.GetObject', uri)) && (await authz.mayListBucket(principalArn, bucket, key));
  };
  const canWrite = (principalArn: string, uri: string) => allowed(principalArn, 'S3.PutObject', uri);
  const join = (root: string, name: string) => `${root.replace(/\/+$/, '')}/${name}`; // jobs/common/uris.py join_uri

  /** `<root>/_delta_log/<version, 20 digits>.json`: a Delta table's commit file (jobs/common/datasets.py). */
  const commit = (root: string, version = 0) => join(root, `_delta_log/${String(version).padStart(20, '0')}.json`);
  const mayList = async (principalArn: string, uri: string) => {
    const { bucket, key } = parseS3Uri(uri);
    return (await authz.authorize({ principalArn, operation: 'S3.ListObjectsV2', params: { Bucket: bucket, Prefix: key } })).allowed;
  };

  test('news lake mode: ml_processing commits the sink table (its state in the commit) where its role may, never the bronze source; check-articles reads both logs', async () => {
    const plan = newsPlan({}, env, { name: 'news-1', stateMachine: 'emr-ml-dev-news-enrichment' });
    const { source, sink } = plan.checkArticles as { source: string; sink: string };
    expect(plan.steps.mlProcessing.args).toMatchObject({ source, sink });
    expect(commit(sink, 3)).toBe(`s3://${lake}/gold/news/articles/_delta_log/00000000000000000003.json`);
    expect(await canWrite(jobRole, commit(sink))).toBe(true);
    expect(await canWrite(jobRole, join(sink, 'part-00000-0b8e3c1a-c000.snappy.parquet'))).toBe(true);
    expect(await canRead(jobRole, commit(sink))).toBe(true);
    expect(await canWrite(jobRole, commit(source, 7))).toBe(false); // never into the source (D3: its state went there)
    expect(await canRead(jobRole, commit(source))).toBe(true);
    expect(await canRead(jobRole, join(source, '_delta_log/_last_checkpoint'))).toBe(true);
    expect(await canRead(jobRole, join(source, 'part-00000-0b8e3c1a-c000.snappy.parquet'))).toBe(true);
    const checkArticles = functionRole(authz.store, 'CheckArticles');
    for (const root of [source, sink]) {
      // the latest commit and _last_checkpoint (404 when absent: ListBucket for the key), the listing of the log
      expect([root, await canRead(checkArticles, commit(root, 12)), await canRead(checkArticles, join(root, '_delta_log/_last_checkpoint'))]).toEqual([root, true, true]);
      expect([root, await mayList(checkArticles, join(root, '_delta_log/'))]).toEqual([root, true]);
      expect([root, await canRead(checkArticles, join(root, 'part-00000-0b8e3c1a-c000.snappy.parquet'))]).toEqual([root, false]); // the log, never the data
      expect([root, await canWrite(checkArticles, commit(root, 13))]).toEqual([root, false]);
    }
    expect(await mayList(checkArticles, join(source, ''))).toBe(false);
    expect(await canRead(checkArticles, commit(`s3://${lake}/silver/netflix/ratings/train`))).toBe(false);
    expect(JSON.stringify(identityStatements(authz.store, checkArticles))).not.toMatch(/s3:PutObject/); // check-articles only reads
  });

  test('ALS checkpoints and drift manifests: the job role may write, read and delete where the plans put them — no new grant', async () => {
    const canDelete = (uri: string) => allowed(jobRole, 'S3.DeleteObject', uri);
    const execution = (pipeline: string) => ({ name: 'e1', stateMachine: `emr-ml-dev-${pipeline}` });
    const drift = driftPlan({}, env, execution('drift-retrain'));
    const recommender = recommenderPlan({}, env, execution('recommender-training'));
    for (const train of [drift.steps.train, recommender.steps.train]) {
      const dir = train.args.checkpointDir as string;
      expect(dir).toMatch(new RegExp(`^s3://${lake}/tmp/checkpoints/emr-ml-dev-(drift-retrain|recommender-training)/e1/train/$`));
      const file = join(dir, '6f1c/rdd-42/part-00000');
      expect([dir, await canWrite(jobRole, file), await canRead(jobRole, file), await canDelete(file)]).toEqual([dir, true, true, true]);
    }
    // drift process writes its manifest beside the staging data; consume deletes the batches in incoming/
    const manifest = join(drift.steps.driftProcess.args.staging as string, 'manifests/20261201T030000000000Z-abc123.json');
    expect([await canWrite(jobRole, manifest), await canRead(jobRole, manifest), await canDelete(manifest)]).toEqual([true, true, true]);
    const batch = join(drift.steps.driftConsume.args.incoming as string, 'batch-2026-12-01.csv');
    expect([await canRead(jobRole, batch), await canDelete(batch)]).toEqual([true, true]);
    expect(await canDelete(`s3://${lake}/bronze/netflix/raw/train.txt`)).toBe(false); // raw inputs are read-only
  });

  test('smoke runs: every output of the plan for {namespace: "smoke/<id>"} is inside the namespace, and exactly that is granted', async () => {
    const ns = 'smoke/b1';
    const plan = recommenderPlan({ namespace: ns }, env, { name: 'smoke-b1', stateMachine: 'emr-ml-dev-recommender-training' });
    const [inLake, inModels] = [`s3://${lake}/${ns}/`, `s3://${models}/${ns}/`];
    const uris = Object.values(plan.steps).flatMap((step) =>
      Object.entries(step.args).filter(([arg, v]) => arg !== 'resultUri' && typeof v === 'string' && v.startsWith('s3://')),
    ) as Array<[string, string]>;
    expect(uris.length).toBe(16); // inputs, outputs, rejects, model root, train/test, current pointer, ALS checkpoints, recommendations
    for (const [arg, uri] of uris) expect([arg, uri, uri.startsWith(inLake) || uri.startsWith(inModels)]).toEqual([arg, uri, true]);
    expect(plan.promote.pointerUri).toBe(`${inModels}recommender/current.json`);
    // job results stay per execution under runs/ (read-result, record-job-cost), apart from every dataset
    for (const step of Object.values(plan.steps)) expect(step.args.resultUri.startsWith(`s3://${lake}/runs/emr-ml-dev-recommender-training/smoke-b1/`)).toBe(true);

    const { etlTrain, etlTest, createFutures, train, evaluate, recommend } = plan.steps;
    // the job role reads what `emrpipe smoke` uploaded, writes every dataset and the model version
    for (const glob of [etlTrain.args.input, etlTest.args.input, createFutures.args.input] as string[]) {
      expect([glob, await canRead(jobRole, glob.replace('*', '.txt'))]).toEqual([glob, true]);
    }
    expect(recommend.args.output).toBe(`${inLake}gold/netflix/recommendations/`);
    for (const root of [etlTrain.args.output, etlTrain.args.rejects, etlTest.args.output, etlTest.args.rejects, createFutures.args.output, recommend.args.output] as string[]) {
      const access = [
        await canWrite(jobRole, join(root, 'part-00000-0b8e3c1a-c000.snappy.parquet')),
        await canWrite(jobRole, join(root, 'year=2005/month=1/part-00000-0b8e3c1a.c000.snappy.parquet')),
        await canWrite(jobRole, commit(root)),
        await canRead(jobRole, commit(root)),
        await canRead(jobRole, join(root, '_delta_log/_last_checkpoint')),
        await mayList(jobRole, join(root, '_delta_log/')),
        // VACUUM deletes data files only old versions need; log cleanup deletes expired commits
        await allowed(jobRole, 'S3.DeleteObject', join(root, 'part-00000-0b8e3c1a-c000.snappy.parquet')),
        await allowed(jobRole, 'S3.DeleteObject', commit(root, 1)),
      ];
      expect([root, ...access]).toEqual([root, true, true, true, true, true, true, true, true]);
    }
    expect(await canWrite(jobRole, join(train.args.modelRoot as string, 'versions/v1/metadata.json'))).toBe(true);
    expect(train.args.checkpointDir).toBe(`${inLake}tmp/checkpoints/emr-ml-dev-recommender-training/smoke-b1/train/`);
    expect(await canWrite(jobRole, join(train.args.checkpointDir as string, 'u1/rdd-1/part-00000'))).toBe(true);
    expect(await canRead(jobRole, evaluate.args.currentPointer as string)).toBe(true); // first run: 404 → "no current model"
    // promote-model: the namespace's recommender pointer, besides the stage pointers — nothing else
    const promote = functionRole(authz.store, 'PromoteModel');
    expect(await canWrite(promote, plan.promote.pointerUri)).toBe(true);
    expect(await canWrite(promote, `${inModels}recommender/versions/v1/metadata.json`)).toBe(false);
    expect(await canWrite(promote, `${inModels}topic/current.json`)).toBe(false);
    const puts = identityStatements(authz.store, promote).filter((st) => [st.Action].flat().includes('s3:PutObject')).flatMap((st) => [st.Resource].flat());
    expect(puts.sort()).toEqual(PROMOTABLE_POINTER_KEYS.map((k) => `arn:aws:s3:::${models}/${k}`).sort());
  });

  test('the stage run (no namespace) keeps the stage layout and the stage pointer', async () => {
    const plan = recommenderPlan({}, env, { name: 'run-1', stateMachine: 'emr-ml-dev-recommender-training' });
    expect(plan.steps.etlTrain.args.output).toBe(`s3://${lake}/silver/netflix/ratings/train/`);
    expect(plan.promote.pointerUri).toBe(`s3://${models}/recommender/current.json`);
    expect(await canWrite(functionRole(authz.store, 'PromoteModel'), plan.promote.pointerUri)).toBe(true);
  });
});

test('record-job-cost: GetJobRun on the application\'s job runs, the lake\'s runs/ only, the application architecture', () => {
  const { template } = synthPlatform('dev', { architecture: 'ARM64' });
  template.hasResourceProperties('AWS::Lambda::Function', {
    Description: 'ML pipelines: record-job-cost',
    Environment: { Variables: Match.objectLike({ ARCHITECTURE: 'ARM64' }) },
  });
  const policy = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { PolicyName: Match.stringLikeRegexp('^RecordJobCost') } }))[0]!;
  const statements = policy.Properties.PolicyDocument.Statement as any[];
  expect(statements).toContainEqual({
    Action: 'emr-serverless:GetJobRun',
    Effect: 'Allow',
    Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^Spark/), 'Arn'] }, '/jobruns/*']] },
  });
  const s3 = statements.filter((s) => JSON.stringify(s.Action).includes('s3:'));
  expect(s3.map((s) => s.Action)).toEqual(['s3:GetObject', 's3:ListBucket', 's3:PutObject']);
  for (const s of s3.filter((x) => x.Action !== 's3:ListBucket')) {
    expect(s.Resource).toEqual({ 'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^StorageLake/), 'Arn'] }, '/runs/*']] });
  }
  expect(JSON.stringify(statements)).not.toMatch(/StartJobRun|CancelJobRun|DeleteObject/);
});

const NIGHTLY_ETL = {
  job: 'etl' as const,
  expression: 'cron(0 2 * * ? *)',
  args: {
    input: 's3://{lakeBucket}/bronze/netflix/raw/train*.txt',
    output: 's3://{lakeBucket}/silver/netflix/ratings/train/',
    rejects: 's3://{lakeBucket}/silver/netflix/rejects/',
  },
  overrides: { sizing: { maxExecutors: 4 } },
};

describe('standalone job runs (start-job-run + EventBridge Scheduler)', () => {
  const { stack, template } = synthPlatform('dev', { schedules: { jobs: { 'nightly-etl': NIGHTLY_ETL } } });
  const fnId = (description: string) =>
    Object.keys(template.findResources('AWS::Lambda::Function', { Properties: { Description: `ML pipelines: ${description}` } }))[0]!;

  test('start-job-run: the environment of build-job-request, StartJobRun on the application, PassRole to EMR Serverless only', () => {
    const fns = template.findResources('AWS::Lambda::Function');
    const startEnv = fns[fnId('start-job-run')]!.Properties.Environment.Variables;
    const buildEnv = fns[fnId('build-job-request')]!.Properties.Environment.Variables;
    expect({ ...startEnv, POWERTOOLS_SERVICE_NAME: undefined }).toEqual({ ...buildEnv, POWERTOOLS_SERVICE_NAME: undefined });
    expect(stack.resolve((stack.startJobRun as any).functionArn)).toEqual({ 'Fn::GetAtt': [fnId('start-job-run'), 'Arn'] });
    expect(fns[fnId('start-job-run')]!.DependsOn).toEqual(expect.arrayContaining([Object.keys(template.findResources('Custom::JobArtifacts'))[0]]));
    const policy = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { PolicyName: Match.stringLikeRegexp('^StartJobRunRole') } }))[0]!;
    const statements = policy.Properties.PolicyDocument.Statement as any[];
    expect(statements).toContainEqual({ Action: 'emr-serverless:StartJobRun', Effect: 'Allow', Resource: { 'Fn::GetAtt': [expect.stringMatching(/^Spark/), 'Arn'] } });
    expect(statements).toContainEqual({
      Action: 'iam:PassRole',
      Effect: 'Allow',
      Condition: { StringEquals: { 'iam:PassedToService': 'emr-serverless.amazonaws.com' } },
      Resource: { 'Fn::GetAtt': [expect.stringMatching(/^JobRole/), 'Arn'] },
    });
    expect(statements).toContainEqual({ Action: 's3:GetObject', Effect: 'Allow', Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^StorageArtifacts/), 'Arn'] }, '/manifests/*']] } });
    expect(JSON.stringify(statements)).not.toMatch(/events:PutRule|s3:PutObject/);
  });

  test('start-job-run may tag the runs it starts: TagResource on the job runs, the builder\'s tag keys plus the schedules\' override tags (D2)', async () => {
    const { template: tagged } = synthPlatform('dev', {
      schedules: { jobs: { 'nightly-etl': { ...NIGHTLY_ETL, overrides: { ...NIGHTLY_ETL.overrides, tags: { team: 'ml', costCenter: 'c-42' } } } } },
    });
    for (const [t, extra] of [[template, []], [tagged, ['team', 'costCenter']]] as const) {
      const { deployment, authz } = deployedIam(t);
      const [{ arn: application, applicationId }] = deployment.applications;
      const role = functionRole(authz.store, 'StartJobRun');
      expect(identityStatements(authz.store, role)).toContainEqual({
        Action: 'emr-serverless:TagResource',
        Effect: 'Allow',
        Resource: `${application}/jobruns/*`,
        Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': [...JOB_RUN_TAG_KEYS, ...extra] } },
      });
      const tags = (keys: readonly string[]) => Object.fromEntries(keys.map((k) => [k, 'v']));
      const keys = [...JOB_RUN_TAG_KEYS, ...extra];
      // StartJobRun with the tags: emr-serverless:StartJobRun, TagResource on the new run, PassRole of the job role
      const start = await authz.authorize({
        principalArn: role,
        operation: 'EMRServerless.StartJobRun',
        params: { applicationId, executionRoleArn: authz.store.bindings.jobRoles[0]!.roleArn, tags: tags(keys) },
      });
      expect({ allowed: start.allowed, denied: start.denied }).toEqual({ allowed: true, denied: undefined });
      expect(start.checks.map((c) => `${c.action} ${c.resource}`)).toContain(`emr-serverless:TagResource ${application}/jobruns/new-job-run`);
      const tagResource = async (resourceArn: string, tagKeys: readonly string[]) =>
        (await authz.authorize({ principalArn: role, operation: 'EMRServerless.TagResource', params: { resourceArn, tags: tags(tagKeys) } })).allowed;
      expect(await tagResource(`${application}/jobruns/new-job-run`, keys)).toBe(true);
      expect(await tagResource(`${application}/jobruns/new-job-run`, ['project', 'owner'])).toBe(false);
      expect(await tagResource(application, keys)).toBe(false);
    }
    // the state machines pass no overrides: their grant stays at the builder's keys
    const { authz } = deployedIam(tagged);
    expect(JSON.stringify(identityStatements(authz.store, stateMachineRole(authz.store, 'recommender-training')))).not.toContain('costCenter');
  });

  test('start-job-run: async invocations that still fail go to the alerts topic', () => {
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: fnId('start-job-run') },
      DestinationConfig: { OnFailure: { Destination: { Ref: Match.stringLikeRegexp('^AlertsTopic') } } },
    });
  });

  test('a configured job schedule: named, DISABLED in dev, invokes start-job-run with the job, args (bucket placeholders resolved) and the scheduled time', () => {
    const schedules = template.findResources('AWS::Scheduler::Schedule', { Properties: { Name: 'emr-ml-dev-nightly-etl' } });
    expect(Object.keys(schedules)).toHaveLength(1);
    const p = Object.values(schedules)[0]!.Properties;
    expect(p).toMatchObject({ ScheduleExpression: 'cron(0 2 * * ? *)', ScheduleExpressionTimezone: 'UTC', State: 'DISABLED' });
    expect(p.Target.Arn).toEqual({ 'Fn::GetAtt': [fnId('start-job-run'), 'Arn'] });
    expect(p.Target.RetryPolicy).toEqual({ MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 3 });
    const input = JSON.stringify(stack.resolve(p.Target.Input));
    for (const expected of ['\\"job\\":\\"etl\\"', '\\"step\\":\\"nightly-etl\\"', '\\"maxExecutors\\":4', '\\"name\\":\\"emr-ml-dev-nightly-etl\\"', '<aws.scheduler.scheduled-time>', '/bronze/netflix/raw/train*.txt']) {
      expect(input).toContain(expected);
    }
    expect(input).toMatch(/StorageLake[0-9A-F]+/);
    expect(input).not.toContain('{lakeBucket}');
  });

  test('the schedule input is exactly what the start-job-run handler accepts', () => {
    const { ScheduledRunEventSchema } = require('../lambda/start-job-run/index') as typeof import('../lambda/start-job-run/index');
    const p = Object.values(template.findResources('AWS::Scheduler::Schedule', { Properties: { Name: 'emr-ml-dev-nightly-etl' } }))[0]!.Properties;
    const input = renderInput(p.Target.Input).replace('<aws.scheduler.scheduled-time>', '2026-11-21T02:00:00Z');
    const event = JSON.parse(input);
    expect(ScheduledRunEventSchema.safeParse(event).success).toBe(true);
    expect(event.args.input).toBe('s3://lake-bucket/bronze/netflix/raw/train*.txt');
  });

  test('no job schedules by default; prod enables configured ones with the stage switch', () => {
    expect(Object.keys(synthPlatform('dev').template.findResources('AWS::Scheduler::Schedule', { Properties: { Target: { Arn: Match.objectLike({}) } } }))).toHaveLength(2);
    const prod = synthPlatform('prod', { schedules: { enabled: true, jobs: { 'nightly-etl': NIGHTLY_ETL } } }).template;
    prod.hasResourceProperties('AWS::Scheduler::Schedule', { Name: 'emr-ml-prod-nightly-etl', State: 'ENABLED' });
  });

  test('invalid job schedules fail synth naming the field', () => {
    expect(() => parseStageConfig('dev', { schedules: { jobs: { 'nightly-etl': { ...NIGHTLY_ETL, job: 'etll' } } } })).toThrow(/stages\.dev\.schedules\.jobs\.nightly-etl\.job: must be one of etl/);
    expect(() => parseStageConfig('dev', { schedules: { jobs: { 'nightly-etl': { ...NIGHTLY_ETL, args: { input: 'not-a-uri' } } } } })).toThrow(
      /stages\.dev\.schedules\.jobs\.nightly-etl\.args: Invalid arguments for job "etl": args\.input\[0\]: must be an s3:\/\/bucket\/key URI/,
    );
    expect(() => parseStageConfig('dev', { schedules: { jobs: { 'nightly-etl': { ...NIGHTLY_ETL, expression: 'nightly' } } } })).toThrow(/stages\.dev\.schedules\.jobs\.nightly-etl\.expression/);
    expect(() => parseStageConfig('dev', { schedules: { jobs: { Nightly: NIGHTLY_ETL } } })).toThrow(/stages\.dev\.schedules\.jobs\.Nightly: Invalid key in record/);
  });

  test('override tags are checked at synth with the EMR Serverless tag rules, naming the field (R7)', () => {
    const withTags = (tags: Record<string, string>) => () =>
      parseStageConfig('dev', { schedules: { jobs: { 'nightly-etl': { ...NIGHTLY_ETL, overrides: { tags } } } } });
    const field = 'stages\\.dev\\.schedules\\.jobs\\.nightly-etl\\.overrides\\.tags';
    expect(withTags({ équipe: 'ml' })).toThrow(new RegExp(`${field}\\.équipe: must be a tag key of ASCII letters`));
    expect(withTags({ team: 'münchen' })).toThrow(new RegExp(`${field}\\.team: must be a tag value of ASCII letters`));
    expect(withTags({ 'aws:team': 'ml' })).toThrow(new RegExp(`${field}\\.aws:team: must not start with "aws:"`));
    expect(withTags(Object.fromEntries(Array.from({ length: 44 }, (_, i) => [`t${i}`, 'v'])))).toThrow(
      new RegExp(`${field}: 51 tags with the 7 the builder sets .*at most 50 per job run`),
    );
    expect(() => parseStageConfig('dev', { schedules: { jobs: { 'nightly-etl': { ...NIGHTLY_ETL, overrides: { retries: 2 } } } } })).toThrow(
      /stages\.dev\.schedules\.jobs\.nightly-etl\.overrides: Unrecognized key: "retries"/,
    );
    expect(withTags({ team: 'ml', 'cost center': 'c-42' })).not.toThrow();
  });
});

/** The resolved schedule input with the lake/models bucket references rendered as plain names. */
function renderInput(input: unknown): string {
  const render = (node: unknown): string => {
    if (typeof node === 'string') return node;
    const o = node as Record<string, unknown>;
    if (o['Fn::Join']) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map(render).join(sep);
    }
    if (o.Ref) return String(o.Ref).startsWith('StorageLake') ? 'lake-bucket' : String(o.Ref).startsWith('StorageModels') ? 'models-bucket' : String(o.Ref);
    throw new Error(`unexpected intrinsic ${JSON.stringify(node)}`);
  };
  return render(input);
}

describe('job artifacts', () => {
  const buildJobRequest = (template: Template) =>
    Object.entries(template.findResources('AWS::Lambda::Function', { Properties: { Description: 'ML pipelines: build-job-request' } }))[0]!;

  test('fresh clone (never packaged): synth works, build-job-request reads manifests/current.json, deploy fails with the reason', () => {
    const { stack, template } = synthPlatform('dev', { destroyDataOnDelete: true });
    expect(stack.artifacts.manifestKey).toBe('manifests/current.json');
    template.resourceCountIs('Custom::JobArtifacts', 1);
    template.hasResourceProperties('Custom::JobArtifacts', {
      ArtifactsBucket: { Ref: Match.stringLikeRegexp('^StorageArtifacts') },
      RemovalPolicy: 'destroy',
      MissingArtifacts: Match.stringLikeRegexp('not built .*run `npm run package` before `cdk deploy`'),
    });
    const [, fn] = buildJobRequest(template);
    expect(fn.Properties.Environment.Variables.MANIFEST_KEY).toBe('manifests/current.json');
  });

  test('packaged: assets + the manifest of this build; build-job-request pins manifests/<sha256>.json and deploys after it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'platform-artifacts-'));
    try {
      const { manifest, text, sha256 } = writeArtifacts(dir);
      const { stack, template } = synthPlatform('dev', {}, { artifactsDir: dir });
      expect(stack.artifacts.manifestKey).toBe(`manifests/${sha256}.json`);
      template.hasResourceProperties('Custom::JobArtifacts', {
        ArtifactsBucket: { Ref: Match.stringLikeRegexp('^StorageArtifacts') },
        Manifest: text,
        ManifestSha256: sha256,
        Sources: manifest.artifacts.map((a) => Match.objectLike({ File: a.file })),
      });
      const [, fn] = buildJobRequest(template);
      expect(fn.Properties.Environment.Variables.MANIFEST_KEY).toBe(`manifests/${sha256}.json`);
      const customResourceId = Object.keys(template.findResources('Custom::JobArtifacts'))[0]!;
      expect(fn.DependsOn).toEqual(expect.arrayContaining([customResourceId]));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('outside dev the published artifacts are retained on stack deletion', () => {
    const { template } = synthPlatform('prod', { destroyDataOnDelete: false });
    template.hasResourceProperties('Custom::JobArtifacts', { RemovalPolicy: 'retain' });
    const publisherPolicies = template.findResources('AWS::IAM::Policy', { Properties: { PolicyName: Match.stringLikeRegexp('^JobArtifacts') } });
    expect(Object.keys(publisherPolicies)).toHaveLength(1);
    expect(JSON.stringify(publisherPolicies)).not.toContain('s3:DeleteObject');
  });
});

describe('prod and database variants', () => {
  test('prod: schedules ENABLED, buckets retained, termination protection', () => {
    const { stack, template } = synthPlatform('prod', { destroyDataOnDelete: false, schedules: { enabled: true } });
    expect(stack.terminationProtection).toBe(true);
    for (const s of Object.values(template.findResources('AWS::Scheduler::Schedule'))) expect(s.Properties.State).toBe('ENABLED');
    for (const b of Object.values(template.findResources('AWS::S3::Bucket'))) expect(b.DeletionPolicy).toBe('Retain');
  });

  test('provisioned database: isolated subnets, no NAT, S3 + Secrets Manager endpoints, Aurora Serverless v2, app in the VPC', () => {
    const { template } = synthPlatform('dbdev', { database: { mode: 'provisioned' } });
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::InternetGateway', 0);
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway', ServiceName: Match.objectLike({}) });
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Interface', PrivateDnsEnabled: true });
    template.hasResourceProperties('AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql',
      StorageEncrypted: true,
      ServerlessV2ScalingConfiguration: { MinCapacity: 0, MaxCapacity: 2 },
      DeletionProtection: true,
    });
    template.hasResourceProperties('AWS::EMRServerless::Application', {
      NetworkConfiguration: { SubnetIds: Match.anyValue(), SecurityGroupIds: [Match.anyValue()] },
    });
    const policy = Object.values(template.findResources('AWS::IAM::Policy', { Properties: { PolicyName: Match.stringLikeRegexp('^JobRolePolicy') } }))[0]!;
    expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
      expect.objectContaining({ Sid: 'DatabaseSecret', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'] }),
    );
    template.hasResourceProperties('AWS::Lambda::Function', { Description: 'ML pipelines: check-articles', VpcConfig: Match.anyValue(), Environment: { Variables: Match.objectLike({ DB_SECRET_ARN: Match.anyValue() }) } });
  });
});

describe('database subnets only in zones EMR Serverless runs in (R8)', () => {
  const ACCOUNT = '123456789012';
  test('provisioned in a region where EMR Serverless runs in some zones only: the AZ IDs are required', () => {
    expect(() => parseStageConfig('dbprod', { account: ACCOUNT, region: 'us-east-1', database: { mode: 'provisioned' } })).toThrow(
      /stages\.dbprod\.database\.availabilityZoneIds: required in us-east-1: EMR Serverless runs there only in use1-az1, use1-az2, use1-az4, use1-az5, use1-az6/,
    );
  });

  test('a zone EMR Serverless does not run in, or of another region, fails naming it', () => {
    expect(() =>
      parseStageConfig('dbprod', { account: ACCOUNT, region: 'us-east-1', database: { mode: 'provisioned', availabilityZoneIds: ['use1-az1', 'use1-az3'] } }),
    ).toThrow(/stages\.dbprod\.database\.availabilityZoneIds\[1\]: EMR Serverless does not run in use1-az3: in us-east-1 it supports only use1-az1, use1-az2, use1-az4, use1-az5, use1-az6/);
    expect(() =>
      parseStageConfig('dbprod', { account: ACCOUNT, region: 'us-east-2', database: { mode: 'provisioned', availabilityZoneIds: ['use1-az1', 'use2-az1'] } }),
    ).toThrow(/availabilityZoneIds\[0\]: use1-az1 is a zone of us-east-1, not of the stage's region us-east-2/);
    // existing subnets: their zone IDs (one per subnet) are checked too
    expect(() =>
      parseStageConfig('dbprod', {
        region: 'ca-central-1',
        database: {
          mode: 'existing',
          secretArn: 'arn:aws:secretsmanager:ca-central-1:123456789012:secret:news-AbCdEf',
          vpcId: 'vpc-0123456789abcdef0',
          subnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
          securityGroupId: 'sg-0123456789abcdef0',
          availabilityZones: ['ca-central-1a', 'ca-central-1d'],
          availabilityZoneIds: ['cac1-az1', 'cac1-az4'],
        },
      }),
    ).toThrow(/availabilityZoneIds\[1\]: EMR Serverless does not run in cac1-az4: in ca-central-1 it supports only cac1-az1, cac1-az2/);
  });

  test('the subnets are placed by AZ ID (the same zone in every account), not by name', () => {
    const { template } = synthPlatform('dbprod', {
      account: ACCOUNT,
      region: 'us-east-1',
      destroyDataOnDelete: false,
      database: { mode: 'provisioned', availabilityZoneIds: ['use1-az4', 'use1-az6'] },
    });
    const subnets = Object.values(template.findResources('AWS::EC2::Subnet'));
    expect(subnets.map((s) => s.Properties.AvailabilityZoneId).sort()).toEqual(['use1-az4', 'use1-az6']);
    for (const s of subnets) expect(s.Properties.AvailabilityZone).toBeUndefined();
  });

  test('a region without a documented restriction needs no zone IDs', () => {
    expect(parseStageConfig('dbprod', { region: 'eu-west-1', database: { mode: 'provisioned' } }).database).toMatchObject({ mode: 'provisioned' });
  });
});

describe('existing database with a customer-managed key (R8)', () => {
  const SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:news-AbCdEf';
  const KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  const existing = (extra: Record<string, unknown> = {}) => ({
    database: {
      mode: 'existing' as const,
      secretArn: SECRET,
      vpcId: 'vpc-0123456789abcdef0',
      subnetIds: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1'],
      availabilityZones: ['eu-west-1a', 'eu-west-1b'],
      securityGroupId: 'sg-0123456789abcdef0',
      ...extra,
    },
  });
  const decrypt = {
    Action: 'kms:Decrypt',
    Effect: 'Allow',
    Resource: KEY,
    Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com', 'kms:EncryptionContext:SecretARN': SECRET } },
  };
  const statementsOf = (template: Template, policyName: string) =>
    Object.values(template.findResources('AWS::IAM::Policy', { Properties: { PolicyName: Match.stringLikeRegexp(`^${policyName}`) } })).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as Array<Record<string, unknown>>,
    );

  test('the job role and check-articles may decrypt the secret with its key, only through Secrets Manager, for this secret', () => {
    const { template } = synthPlatform('dbkey', existing({ secretKmsKeyArn: KEY }));
    const jobRole = statementsOf(template, 'JobRolePolicy');
    expect(jobRole).toContainEqual({ Sid: 'DatabaseSecretKey', ...decrypt });
    expect(jobRole).toContainEqual(expect.objectContaining({ Sid: 'DatabaseSecret', Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Resource: SECRET }));
    const checkArticles = statementsOf(template, 'CheckArticles');
    expect(checkArticles).toContainEqual(decrypt);
    expect(checkArticles).toContainEqual({ Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Effect: 'Allow', Resource: SECRET });
    // nobody else gets the key
    const holders = Object.entries(template.findResources('AWS::IAM::Policy')).filter(([, p]) => JSON.stringify(p).includes(KEY));
    expect(holders.map(([id]) => id.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual(['CheckArticlesRoleDefaultPolicy', 'JobRolePolicy']);
  });

  test('without a key (AWS managed aws/secretsmanager) no KMS permission is granted', () => {
    const { template } = synthPlatform('dbnokey', existing());
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toContain('kms:ViaService');
  });

  test('an invalid key ARN or one outside the secret\'s region fails synth naming the field', () => {
    expect(() => parseStageConfig('prod', existing({ secretKmsKeyArn: 'alias/news' }))).toThrow(/stages\.prod\.database\.secretKmsKeyArn: must be a KMS key ARN/);
    expect(() => parseStageConfig('prod', existing({ secretKmsKeyArn: KEY.replace('eu-west-1', 'us-east-1') }))).toThrow(
      /stages\.prod\.database\.secretKmsKeyArn: must be in the secret's region eu-west-1 \(the key is in us-east-1\)/,
    );
  });
});

describe('cdk-nag (AwsSolutions + Serverless)', () => {
  const variants: Array<[string, Record<string, unknown>]> = [
    ['dev', {}],
    ['prod', { destroyDataOnDelete: false, schedules: { enabled: true, jobs: { 'nightly-etl': NIGHTLY_ETL } }, alertEmail: 'ops@example.com' }],
    ['dbprov', { database: { mode: 'provisioned' } }],
    [
      'dbexisting',
      {
        database: {
          mode: 'existing',
          secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:news-AbCdEf',
          secretKmsKeyArn: 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
          vpcId: 'vpc-0abc',
          subnetIds: ['subnet-0a', 'subnet-0b'],
          availabilityZones: ['eu-west-1a', 'eu-west-1b'],
          securityGroupId: 'sg-0abc',
        },
      },
    ],
  ];
  test.each(variants)('%s: zero unacknowledged findings', (stage, raw) => {
    const { app } = synthPlatform(stage, raw as any, { nag: true });
    expect(() => app.synth()).not.toThrow();
  });

  test('an unacknowledged finding fails synth (the check is live)', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Probe');
    new s3.Bucket(stack, 'Unlogged', { enforceSSL: true });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
    expect(() => app.synth()).toThrow(/AwsSolutions-S1|Validation failed/);
  });
});
