import { Match } from 'aws-cdk-lib/assertions';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const aslValidator = require('asl-validator') as (d: unknown) => { isValid: boolean; errorsText: (sep?: string) => string };
import { EMR_TRANSIENT_ERRORS, LAMBDA_TRANSIENT_ERRORS, START_JOB_RUN_SYNC } from '../lib/pipelines/kit';
import { BATCH_STATUS_PATH, MANIFEST_PATH, RETRAIN_DECISION_PATH } from '../lib/pipelines/drift-retrain';
import { parseStageConfig } from '../lib/config/stage-config';
import { buildJobRequest, JOB_RUN_TAG_KEYS } from '../lib/jobs/job-request-builder';
import { PIPELINES } from '../lib/pipelines';
import { type JobStep, planEnvironmentFor } from '../lib/pipelines/common';
import { allStates, definitions, path, synthPlatform } from './support/cdk-platform';
import { fixtureEnv, fixtureManifest } from './fixtures/job-manifest';
import { deployedIam, identityStatements, stateMachineRole } from './support/local-iam';

const { template } = synthPlatform('dev');
const defs = definitions(template);
const JOB_TASK_TIMEOUT = (60 + 120 + 15) * 60; // stage defaults: spark.queueTimeoutMinutes + jobTimeoutMinutes, + start allowance

describe('state machines', () => {
  test('four STANDARD state machines named emr-ml-<stage>-<pipeline>, JSONPath only', () => {
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 4);
    expect(Object.keys(defs).sort()).toEqual(['drift-retrain', 'news-enrichment', 'recommender-training', 'taxi-medallion']);
    for (const def of Object.values(defs)) {
      expect(def.QueryLanguage ?? 'JSONPath').toBe('JSONPath');
      expect(JSON.stringify(def)).not.toMatch(/"QueryLanguage":"JSONata"|"Assign"|"Arguments"/);
    }
  });

  test.each(Object.keys(defs))('%s passes asl-validator', (name) => {
    const result = aslValidator(defs[name as keyof typeof defs]);
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
  });

  test('logs ALL with execution data to a log group with retention, X-Ray on', () => {
    template.allResourcesProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: Match.objectLike({ Level: 'ALL', IncludeExecutionData: true }),
    });
    const groups = template.findResources('AWS::Logs::LogGroup', { Properties: { LogGroupName: Match.stringLikeRegexp('^/aws/vendedlogs/states/emr-ml-dev-') } });
    expect(Object.keys(groups)).toHaveLength(4);
    for (const g of Object.values(groups)) expect(g.Properties.RetentionInDays).toBe(30);
  });

  test.each(Object.keys(defs))('%s: every startJobRun.sync task has Retry and a timeout, no Catch (a redrive resumes at the failed job)', (name) => {
    const states = allStates(defs[name as keyof typeof defs]);
    const sparkTasks = Object.entries(states).filter(([, s]) => s.Resource === START_JOB_RUN_SYNC);
    expect(sparkTasks.length).toBeGreaterThan(0);
    for (const [stateName, s] of sparkTasks) {
      expect(stateName).toMatch(/^Run /);
      expect(s.TimeoutSeconds).toBe(JOB_TASK_TIMEOUT);
      expect(s.Retry).toEqual([
        { ErrorEquals: EMR_TRANSIENT_ERRORS, IntervalSeconds: 30, MaxAttempts: 5, BackoffRate: 2, MaxDelaySeconds: 300, JitterStrategy: 'FULL' },
      ]);
      // a Catch would end a failed job in a Fail state, which is all a RedriveExecution would rerun
      expect(s.Catch).toBeUndefined();
      expect(s.Parameters).toEqual({
        'ApplicationId.$': '$.work.jobRequest.ApplicationId',
        'ExecutionRoleArn.$': '$.work.jobRequest.ExecutionRoleArn',
        'Name.$': '$.work.jobRequest.Name',
        // a redriven execution (same id) starts new job runs instead of getting the failed ones back
        'ClientToken.$': "States.Format('{}-{}', $.work.jobRequest.ClientToken, $$.Execution.RedriveCount)",
        'ExecutionTimeoutMinutes.$': '$.work.jobRequest.ExecutionTimeoutMinutes',
        'Mode.$': '$.work.jobRequest.Mode',
        'RetryPolicy.$': '$.work.jobRequest.RetryPolicy',
        'JobDriver.$': '$.work.jobRequest.JobDriver',
        'ConfigurationOverrides.$': '$.work.jobRequest.ConfigurationOverrides',
        'Tags.$': '$.work.jobRequest.Tags',
      });
    }
  });

  test.each([
    ['dev', {}],
    ['long queue', { spark: { queueTimeoutMinutes: 720 }, jobTimeoutMinutes: 60 }],
    ['long jobs', { spark: { queueTimeoutMinutes: 15 }, jobTimeoutMinutes: 600 }],
  ])('%s: every .sync task of every pipeline outlasts queue + job time, so Step Functions never cancels a working run', (variant, raw) => {
    const t = variant === 'dev' ? template : synthPlatform('dev', raw).template;
    // what the application queues and what the job's own timeout allows, read from the template
    const [application] = Object.values(t.findResources('AWS::EMRServerless::Application'));
    const queueMinutes = application!.Properties.SchedulerConfiguration.QueueTimeoutMinutes as number;
    const [buildJobRequest] = Object.values(t.findResources('AWS::Lambda::Function', { Properties: { Description: 'ML pipelines: build-job-request' } }));
    const jobMinutes = Number(buildJobRequest!.Properties.Environment.Variables.JOB_TIMEOUT_MINUTES);
    expect(queueMinutes).toBe((raw as { spark?: { queueTimeoutMinutes?: number } }).spark?.queueTimeoutMinutes ?? 60);
    const machines = definitions(t);
    expect(Object.keys(machines)).toHaveLength(4);
    for (const def of Object.values(machines)) {
      const sync = Object.values(allStates(def)).filter((s) => s.Resource === START_JOB_RUN_SYNC);
      expect(sync.length).toBeGreaterThan(0);
      for (const s of sync) {
        expect(s.TimeoutSeconds).toBeGreaterThanOrEqual((queueMinutes + jobMinutes) * 60);
        expect(s.TimeoutSeconds).toBe((queueMinutes + jobMinutes + 15) * 60);
      }
    }
  });

  test.each(Object.keys(defs))('%s: every Lambda task retries transient errors with jitter and is caught', (name) => {
    const states = allStates(defs[name as keyof typeof defs]);
    const lambdaTasks = Object.values(states).filter((s) => typeof s.Resource === 'string' && s.Resource.includes(':lambda:'));
    expect(lambdaTasks.length).toBeGreaterThan(2);
    for (const s of lambdaTasks) {
      expect(s.Retry[0]).toMatchObject({ ErrorEquals: LAMBDA_TRANSIENT_ERRORS, JitterStrategy: 'FULL', BackoffRate: 2 });
      expect(s.Catch[0].ErrorEquals).toEqual(['States.ALL']);
      expect(s.TimeoutSeconds).toBeGreaterThan(0);
    }
  });

  test.each(Object.keys(defs))('%s: failure path publishes to the alerts topic, then fails with the original error', (name) => {
    const def = defs[name as keyof typeof defs];
    const notify = def.States['Notify failure'];
    expect(notify.Resource).toBe('arn:aws:states:::sns:publish');
    expect(notify.Parameters.TopicArn).toMatch(/^arn:aws:sns:.*AlertsTopic/);
    expect(notify.Next).toBe('Pipeline failed');
    expect(notify.Catch[0].Next).toBe('Pipeline failed');
    expect(def.States['Pipeline failed']).toMatchObject({ Type: 'Fail', ErrorPath: '$.error.Error', CausePath: '$.error.Cause' });
    // the first state validates the input, and a ValidationError reaches the failure path
    expect(def.StartAt).toBe('Validate input');
    expect(def.States['Validate input'].Catch[0]).toEqual({ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Notify failure' });
    expect(def.States['Validate input'].Parameters).toMatchObject({ pipeline: name, 'input.$': '$' });
  });

  test.each(Object.keys(defs))('%s: a cost step after every job run, whose failure never fails the pipeline', (name) => {
    const states = allStates(defs[name as keyof typeof defs]);
    const runs = Object.keys(states).filter((n) => states[n].Resource === START_JOB_RUN_SYNC);
    for (const run of runs) {
      const step = run.replace(/^Run /, '');
      const key = step.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
      expect(states[run].Next).toBe(`Record ${step} cost`);
      const cost = states[`Record ${step} cost`];
      expect(cost).toMatchObject({
        Type: 'Task',
        Resource: expect.stringMatching(/:function:RecordJobCostFunction/),
        ResultPath: `$.costs.${key}`,
        Next: `Read ${step} result`,
        TimeoutSeconds: 60,
      });
      expect(cost.Parameters).toEqual({ 'jobRun.$': '$.work.jobRun', 'resultUri.$': `$.plan.steps.${key}.args.resultUri`, step });
      expect(cost.Retry[0].ErrorEquals).toEqual(LAMBDA_TRANSIENT_ERRORS);
      // any error → on to reading the result (not the failure path), keeping the error out of $.error
      expect(cost.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.work.costError', Next: `Read ${step} result` }]);
    }
    expect(defs[name as keyof typeof defs].States['Validate input'].ResultSelector).toEqual({ 'plan.$': '$', costs: {} });
  });

  test('recommender-training: validate → ETL (train ‖ test) → (futures ‖ train) → evaluate → gate → promote?', () => {
    const def = defs['recommender-training'];
    expect(path(def, { 'Promote?': 0 })).toEqual([
      'Validate input',
      'ETL',
      'Collect ETL results',
      'Collect ETL costs',
      'Futures and training',
      'Collect Futures and training results',
      'Collect Futures and training costs',
      'Prepare evaluate args',
      'Build evaluate request',
      'Run evaluate',
      'Record evaluate cost',
      'Read evaluate result',
      'Evaluation gate',
      'Promote?',
      'Promote model',
      'Prepare recommend args', 'Build recommend request', 'Run recommend', 'Record recommend cost', 'Read recommend result',
      'Model promoted',
    ]);
    expect(path(def).slice(-1)).toEqual(['Model not promoted']);
    expect(def.States['ETL'].Branches.map((b: any) => b.StartAt)).toEqual(['Build etl-train request', 'Build etl-test request']);
    expect(def.States['Futures and training'].Branches.map((b: any) => b.StartAt)).toEqual(['Build create-futures request', 'Build train request']);
    expect(def.States['Futures and training'].ResultSelector).toEqual({
      results: { 'createFutures.$': '$[0].results.createFutures', 'train.$': '$[1].results.train' },
      'costs.$': 'States.JsonMerge($[0].costs, $[1].costs, false)',
    });
    expect(def.States['Futures and training'].ResultPath).toBe('$.work.parallel');
    expect(def.States['Collect Futures and training results']).toMatchObject({ Type: 'Pass', InputPath: '$.work.parallel.results', ResultPath: '$.results.model' });
    expect(def.States['Collect Futures and training costs']).toMatchObject({ Type: 'Pass', InputPath: '$.work.parallel.costs', ResultPath: '$.costs' });
    const trainBranch = def.States['Futures and training'].Branches[1];
    expect(path(trainBranch)).toEqual(['Build train request', 'Run train', 'Record train cost', 'Read train result']);
    // a failed job fails its branch and the Parallel state (no Catch: a redrive reruns only the failed branch);
    // a branch's Lambda step publishes its caught error inside the branch, then fails it
    expect(def.States['ETL'].Catch).toBeUndefined();
    expect(def.States['ETL'].Branches[0].States['Run etl-train'].Catch).toBeUndefined();
    expect(def.States['ETL'].Branches[0].States['Build etl-train request'].Catch[0].Next).toBe('Notify etl-train failure');
    expect(def.States['ETL'].Branches[0].States['Notify etl-train failure']).toMatchObject({ Resource: 'arn:aws:states:::sns:publish', Next: 'etl-train failed' });
    // the model trained in this execution is evaluated and promoted
    expect(def.States['Prepare evaluate args'].Parameters).toEqual({ 'model.$': '$.results.model.train.outputs.model' });
    expect(def.States['Build evaluate request'].Parameters['args.$']).toBe('States.JsonMerge($.plan.steps.evaluate.args, $.work.runtimeArgs, false)');
    expect(def.States['Promote?'].Choices).toEqual([{ Variable: '$.gate.promote', BooleanEquals: true, Next: 'Promote model' }]);
    expect(def.States['Promote model'].Parameters['modelUri.$']).toBe('$.results.model.train.outputs.model');
  });

  test('drift-retrain: the Choice reads the drift decision and retrains, or ends with the no-drift report', () => {
    const def = defs['drift-retrain'];
    const choice = def.States['Drift detected?'];
    expect(choice.Choices[0]).toEqual({
      Or: [
        { Variable: RETRAIN_DECISION_PATH, BooleanEquals: true },
        { Variable: '$.plan.forceRetrain', BooleanEquals: true },
      ],
      Next: 'Prepare drift-merge args',
    });
    expect(RETRAIN_DECISION_PATH).toBe('$.results.driftDetect.decision.retrain');
    // the decision is what read-result stored from the detect step, which must contain it
    expect(def.States['Read drift-detect result'].ResultPath).toBe('$.results.driftDetect');
    expect(def.States['Read drift-detect result'].Parameters.require).toEqual(['decision.retrain', 'decision.score']);
    expect(path(def, { 'Drift detected?': 0, 'Promote?': 0 })).toEqual([
      'Validate input',
      'Build drift-process request', 'Run drift-process', 'Record drift-process cost', 'Read drift-process result',
      'New batch?',
      'Build drift-detect request', 'Run drift-detect', 'Record drift-detect cost', 'Read drift-detect result',
      'Drift detected?',
      'Prepare drift-merge args', 'Build drift-merge request', 'Run drift-merge', 'Record drift-merge cost', 'Read drift-merge result',
      'Build train request', 'Run train', 'Record train cost', 'Read train result',
      'Prepare evaluate args', 'Build evaluate request', 'Run evaluate', 'Record evaluate cost', 'Read evaluate result',
      'Evaluation gate', 'Promote?', 'Promote model',
      'Prepare recommend args', 'Build recommend request', 'Run recommend', 'Record recommend cost', 'Read recommend result',
      // the batches leave incoming/ only once the retrained model is promoted
      'Prepare drift-consume args', 'Build drift-consume request', 'Run drift-consume', 'Record drift-consume cost', 'Read drift-consume result',
      'Model promoted',
    ]);
    expect(path(def, { 'Drift detected?': 0 }).slice(-2)).toEqual(['Promote?', 'Model not promoted']);
    expect(path(def).slice(-3)).toEqual(['Drift detected?', 'No-drift report', 'No drift']);
    expect(def.States['No-drift report'].Parameters).toMatchObject({ status: 'NO_DRIFT', 'decision.$': '$.results.driftDetect.decision', 'costs.$': '$.costs' });
    // merge and consume get the process step's manifest (never a file list) at run time
    expect(MANIFEST_PATH).toBe('$.results.driftProcess.outputs.manifest');
    expect(def.States['Prepare drift-merge args'].Parameters).toEqual({ 'manifest.$': MANIFEST_PATH });
    expect(def.States['Prepare drift-consume args'].Parameters).toEqual({ 'manifest.$': MANIFEST_PATH });
  });

  test('drift-retrain (R10): no batch in incoming/ → "No new batch" Succeed, before detect, without the failure path', () => {
    const def = defs['drift-retrain'];
    expect(def.States['Read drift-process result'].Parameters.require).toEqual(['batchStatus', 'counts.batches']);
    expect(def.States['New batch?'].Choices).toEqual([{ Variable: BATCH_STATUS_PATH, StringEquals: 'NO_NEW_BATCH', Next: 'No-new-batch report' }]);
    expect(def.States['New batch?'].Default).toBe('Build drift-detect request');
    expect(path(def, { 'New batch?': 0 })).toEqual([
      'Validate input',
      'Build drift-process request', 'Run drift-process', 'Record drift-process cost', 'Read drift-process result',
      'New batch?', 'No-new-batch report', 'No new batch',
    ]);
    expect(def.States['No new batch'].Type).toBe('Succeed');
    expect(def.States['No-new-batch report'].Parameters).toMatchObject({ status: 'NO_NEW_BATCH', 'counts.$': '$.results.driftProcess.counts', 'costs.$': '$.costs' });
  });

  test('news-enrichment: check-articles → nothing to do, or the ml_processing job', () => {
    const def = defs['news-enrichment'];
    expect(def.States['Check articles'].InputPath ?? def.States['Check articles'].Parameters).toBeDefined();
    expect(def.States['Any pending articles?'].Choices).toEqual([{ Variable: '$.check.pending', NumericEquals: 0, Next: 'Nothing to do' }]);
    expect(path(def)).toEqual([
      'Validate input', 'Check articles', 'Any pending articles?',
      'Build ml-processing request', 'Run ml-processing', 'Record ml-processing cost', 'Read ml-processing result', 'Articles enriched',
    ]);
    expect(path(def, { 'Any pending articles?': 0 })).toEqual(['Validate input', 'Check articles', 'Any pending articles?', 'Nothing to do']);
  });

  test('taxi-medallion: ingest → preprocess → features', () => {
    const def = defs['taxi-medallion'];
    expect(path(def)).toEqual([
      'Validate input', 'Ingest?', 'Ingest taxi months',
      'Build taxi-preprocess request', 'Run taxi-preprocess', 'Record taxi-preprocess cost', 'Read taxi-preprocess result',
      'Build taxi-features request', 'Run taxi-features', 'Record taxi-features cost', 'Read taxi-features result', 'Features written',
    ]);
    // One ingest invocation per month of the plan, 2 at a time, each with the Lambda's 15 minutes and retries.
    const map = def.States['Ingest taxi months'];
    expect(map).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.plan.ingest.months',
      MaxConcurrency: 2,
      ItemSelector: { 'months.$': 'States.Array($$.Map.Item.Value)', 'sourceUrlTemplate.$': '$.plan.ingest.sourceUrlTemplate' },
      ResultSelector: { 'objects.$': '$[*].ingested.objects[*]' },
      ResultPath: '$.ingest',
      Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Notify failure' }],
    });
    const month = map.ItemProcessor.States['Ingest taxi month'];
    expect(map.ItemProcessor.StartAt).toBe('Ingest taxi month');
    expect(month.TimeoutSeconds).toBe(900);
    expect(month.Retry.map((r: any) => r.ErrorEquals)).toEqual([expect.arrayContaining(['Lambda.ServiceException', 'Lambda.TooManyRequestsException']), ['IngestTransientError']]);
    expect(month.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Ingest month failed' }]);
  });

  test('state machine roles: StartJobRun on the application, PassRole only to EMR Serverless, the .sync rule', () => {
    const policies = template.findResources('AWS::IAM::Policy', { Properties: { PolicyName: Match.stringLikeRegexp('^(RecommenderTraining|DriftRetrain|NewsEnrichment|TaxiMedallion)') } });
    expect(Object.keys(policies)).toHaveLength(4);
    for (const policy of Object.values(policies)) {
      const statements = policy.Properties.PolicyDocument.Statement as any[];
      expect(statements).toContainEqual(expect.objectContaining({ Action: 'emr-serverless:StartJobRun', Resource: { 'Fn::GetAtt': [expect.stringMatching(/^Spark/), 'Arn'] } }));
      expect(statements).toContainEqual(
        expect.objectContaining({
          Action: 'iam:PassRole',
          Condition: { StringEquals: { 'iam:PassedToService': 'emr-serverless.amazonaws.com' } },
          Resource: { 'Fn::GetAtt': [expect.stringMatching(/^JobRole/), 'Arn'] },
        }),
      );
      const events = statements.find((s) => JSON.stringify(s.Action).includes('events:PutRule'));
      expect(events.Action).toEqual(['events:PutTargets', 'events:PutRule', 'events:DescribeRule']);
      expect(JSON.stringify(events.Resource)).toContain(':rule/StepFunctionsGetEventsForEMRServerlessJobRule');
      expect(statements.some((s) => s.Action === '*' || s.Action === 'emr-serverless:*' || s.Action === 'iam:*')).toBe(false);
    }
  });

  test('state machine roles tag the runs they start: TagResource on the job runs, only the tag keys the builder sets (D2)', async () => {
    const { deployment, authz } = deployedIam(template);
    const [{ arn: application, applicationId }] = deployment.applications;
    const jobRole = authz.store.bindings.jobRoles[0]!.roleArn;
    const env = planEnvironmentFor(parseStageConfig('dev', {}), { lakeBucket: 'dev-lake-bucket', modelsBucket: 'dev-models-bucket' });
    const tagResource = (principalArn: string, resourceArn: string, keys: string[]) =>
      authz.authorize({ principalArn, operation: 'EMRServerless.TagResource', params: { resourceArn, tags: Object.fromEntries(keys.map((k) => [k, 'v'])) } });
    for (const pipeline of ['recommender-training', 'drift-retrain', 'news-enrichment', 'taxi-medallion'] as const) {
      const role = stateMachineRole(authz.store, pipeline);
      expect(identityStatements(authz.store, role)).toContainEqual({
        Action: 'emr-serverless:TagResource',
        Effect: 'Allow',
        Resource: `${application}/jobruns/*`,
        Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': [...JOB_RUN_TAG_KEYS] } },
      });
      // every step's request, as build-job-request builds it in this state machine, is authorized as AWS checks it
      const execution = { id: `arn:aws:states:eu-west-1:123456789012:execution:emr-ml-dev-${pipeline}:e1`, name: 'e1', stateMachine: `emr-ml-dev-${pipeline}`, startTime: '2026-03-15T10:00:00Z' };
      const plan = PIPELINES[pipeline].plan({}, env, execution) as unknown as { steps: Record<string, JobStep> };
      for (const step of Object.values(plan.steps)) {
        // from earlier steps at run time: the trained model, the process step's batch manifest
        const runtimeArgs =
          step.job === 'evaluate' || step.job === 'recommend' ? { model: 's3://dev-models-bucket/recommender/versions/v1' }
          : step.job === 'drift' && ['merge', 'consume'].includes(String(step.args.action)) ? { manifest: 's3://dev-lake-bucket/silver/netflix/stream/staging/manifests/m1.json' }
          : {};
        const request = buildJobRequest({
          ...step,
          args: { ...step.args, ...runtimeArgs },
          execution,
          manifest: fixtureManifest,
          env: { ...fixtureEnv, applicationId, jobRoleArn: jobRole, dbSecretArn: undefined },
        });
        const result = await authz.authorize({ principalArn: role, operation: START_JOB_RUN_SYNC, params: { ...request } });
        expect({ step: step.job, allowed: result.allowed, denied: result.denied }).toEqual({ step: step.job, allowed: true, denied: undefined });
        expect(result.checks.map((c) => c.action)).toEqual(expect.arrayContaining(['emr-serverless:StartJobRun', 'emr-serverless:TagResource', 'iam:PassRole']));
      }
      // not the application itself, not other tag keys
      expect((await tagResource(role, application, ['project'])).allowed).toBe(false);
      expect((await tagResource(role, `${application}/jobruns/r1`, ['project', 'owner'])).allowed).toBe(false);
      expect((await tagResource(role, `${application}/jobruns/r1`, ['project'])).allowed).toBe(true);
    }
  });

  test('alarms on failed and timed-out executions notify the alerts topic', () => {
    const alarms = template.findResources('AWS::CloudWatch::Alarm');
    const byMetric = Object.values(alarms).map((a) => a.Properties.MetricName).sort();
    expect(byMetric).toEqual([...Array(4).fill('ExecutionsFailed'), ...Array(4).fill('ExecutionsTimedOut')]);
    for (const a of Object.values(alarms)) {
      expect(a.Properties.Threshold).toBe(1);
      expect(a.Properties.AlarmActions).toEqual([{ Ref: expect.stringMatching(/^AlertsTopic/) }]);
    }
  });
});
