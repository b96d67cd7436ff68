import { ExecutionError, StateMachine } from 'aws-local-stepfunctions';
import { planFor } from '../lib/pipelines';
import { planEnvironmentFor } from '../lib/pipelines/common';
import { parseStageConfig } from '../lib/config/stage-config';
import { decide } from '../lambda/evaluation-gate';
import { definitions, synthPlatform } from './support/cdk-platform';

/**
 * Runs the synthesized drift-retrain and recommender-training definitions (the ASL cdk deploy ships) with
 * aws-local-stepfunctions; Lambda and EMR tasks are replaced by local handlers: the plan and the gate run for
 * real, Spark steps return results, cost steps return a record built from the job run they were given.
 */
const { template } = synthPlatform('dev');
const defs = definitions(template);
const drift = defs['drift-retrain'];
const env = planEnvironmentFor(parseStageConfig('dev', {}), { lakeBucket: 'lake-bucket', modelsBucket: 'models-bucket' });

function harness(failingCostSteps: string[] = []) {
  const visited: string[] = [];
  const record = (name: string, fn: (i: any) => unknown) => (i: any) => {
    visited.push(name);
    return fn(i) as any;
  };
  const spark = (step: string, result: Record<string, unknown>) => ({
    [`Build ${step} request`]: record(`Build ${step} request`, (i) => ({ ApplicationId: 'app', Name: i.step, ClientToken: 't', ExecutionRoleArn: 'r', ExecutionTimeoutMinutes: 120, JobDriver: {}, ConfigurationOverrides: {}, Tags: {} })),
    [`Run ${step}`]: record(`Run ${step}`, () => ({ applicationId: 'app', jobRunId: `${step}-run`, state: 'SUCCESS' })),
    [`Record ${step} cost`]: record(`Record ${step} cost`, (i) => {
      if (failingCostSteps.includes(step)) throw Object.assign(new Error('AccessDenied: emr-serverless:GetJobRun'), { name: 'AccessDeniedException' });
      return { step: i.step, jobRunId: i.jobRun.jobRunId, resultUri: i.resultUri, costUsd: 0.25 };
    }),
    [`Read ${step} result`]: record(`Read ${step} result`, () => ({ job: step, status: 'SUCCEEDED', ...result })),
  });
  return { visited, record, spark };
}

const context = (pipeline: string) => ({
  Execution: { Id: `arn:aws:states:us-east-1:123456789012:execution:emr-ml-dev-${pipeline}:run-1`, Name: 'run-1', StartTime: '2026-11-21T06:00:00Z', RedriveCount: 0 },
  StateMachine: { Id: `arn:aws:states:us-east-1:123456789012:stateMachine:emr-ml-dev-${pipeline}`, Name: `emr-ml-dev-${pipeline}` },
});

function runDrift(input: unknown, retrain: boolean, candidateRmse = 0.9, failingCostSteps: string[] = []) {
  const { visited, record, spark } = harness(failingCostSteps);
  const handlers = {
    'Validate input': record('Validate input', (i) => planFor(i.pipeline, i.input, env, i.execution)),
    ...spark('drift-process', { outputs: { staging: 's3://lake-bucket/silver/netflix/stream/staging/' } }),
    ...spark('drift-detect', { decision: { retrain, score: retrain ? 1.7 : 0.2, reasons: retrain ? ['kl'] : [], metrics: {} } }),
    ...spark('drift-merge', { outputs: {} }),
    ...spark('train', { outputs: { model: 's3://models-bucket/recommender/versions/v2' } }),
    ...spark('evaluate', { metrics: { rmse: candidateRmse }, currentModelMetrics: { rmse: 0.95 } }),
    'Evaluation gate': record('Evaluation gate', (i) => decide(i.evaluation.metrics.rmse, i.evaluation.currentModelMetrics?.rmse ?? null, i.rmseMargin)),
    'Promote model': record('Promote model', (i) => ({ version: 'v2', modelUri: i.modelUri })),
    'Notify failure': record('Notify failure', () => ({})),
  };
  const machine = new StateMachine(drift as any, { validationOptions: { noValidate: false } } as any);
  const execution = machine.run(input as any, { overrides: { taskResourceLocalHandlers: handlers as any }, context: context('drift-retrain') as any });
  return { visited, result: execution.result };
}

function runRecommender(input: unknown, failingCostSteps: string[] = []) {
  const { visited, record, spark } = harness(failingCostSteps);
  const handlers = {
    'Validate input': record('Validate input', (i) => planFor(i.pipeline, i.input, env, i.execution)),
    ...spark('etl-train', { outputs: { dataset: 's3://lake-bucket/silver/netflix/ratings/train/_versions/1' } }),
    ...spark('etl-test', { outputs: { dataset: 's3://lake-bucket/silver/netflix/ratings/test/_versions/1' } }),
    ...spark('create-futures', { outputs: {} }),
    ...spark('train', { outputs: { model: 's3://models-bucket/recommender/versions/v2' } }),
    ...spark('evaluate', { metrics: { rmse: 0.9 }, currentModelMetrics: null }),
    'Evaluation gate': record('Evaluation gate', (i) => decide(i.evaluation.metrics.rmse, i.evaluation.currentModelMetrics?.rmse ?? null, i.rmseMargin)),
    'Promote model': record('Promote model', (i) => ({ version: 'v2', modelUri: i.modelUri })),
    'Notify failure': record('Notify failure', () => ({})),
  };
  const machine = new StateMachine(defs['recommender-training'] as any, { validationOptions: { noValidate: false } } as any);
  const execution = machine.run(input as any, { overrides: { taskResourceLocalHandlers: handlers as any }, context: context('recommender-training') as any });
  return { visited, result: execution.result };
}

const costOf = (step: string, key: string, pipeline: string) => ({
  step,
  jobRunId: `${step}-run`,
  resultUri: `s3://lake-bucket/runs/emr-ml-dev-${pipeline}/run-1/${step}.json`,
  costUsd: 0.25,
  _key: key,
});
const costs = (pipeline: string, steps: Array<[string, string]>) =>
  Object.fromEntries(steps.map(([step, key]) => { const { _key, ...c } = costOf(step, key, pipeline); return [_key, c]; }));

describe('drift-retrain executes as synthesized', () => {
  test('drift detected → merge, train, evaluate, gate, promote the new model', async () => {
    const { visited, result } = runDrift({ klThreshold: 0.05 }, true);
    const output: any = await result;
    expect(visited).toEqual(
      expect.arrayContaining(['Run drift-merge', 'Run train', 'Run evaluate', 'Evaluation gate', 'Promote model']),
    );
    expect(output.gate.promote).toBe(true);
    expect(output.promotion).toEqual({ version: 'v2', modelUri: 's3://models-bucket/recommender/versions/v2' });
    expect(output.plan.steps.driftDetect.args.klThreshold).toBe(0.05);
    expect(output.costs).toEqual(
      costs('drift-retrain', [['drift-process', 'driftProcess'], ['drift-detect', 'driftDetect'], ['drift-merge', 'driftMerge'], ['train', 'train'], ['evaluate', 'evaluate']]),
    );
  });

  test('a failing cost step loses only its record: the pipeline goes on and succeeds', async () => {
    const { visited, result } = runDrift({}, true, 0.9, ['drift-detect', 'train']);
    const output: any = await result;
    expect(visited).toEqual(expect.arrayContaining(['Record drift-detect cost', 'Read drift-detect result', 'Record train cost', 'Read train result', 'Promote model']));
    expect(visited).not.toContain('Notify failure');
    expect(Object.keys(output.costs).sort()).toEqual(['driftMerge', 'driftProcess', 'evaluate']);
    expect(output.error).toBeUndefined();
    expect(output.work.costError.Error).toBe('AccessDeniedException');
  });

  test('no drift → no merge/train; ends with the no-drift report', async () => {
    const { visited, result } = runDrift({}, false);
    const output: any = await result;
    expect(visited).not.toContain('Run drift-merge');
    expect(visited).not.toContain('Run train');
    expect(output).toEqual({
      status: 'NO_DRIFT',
      decision: { retrain: false, score: 0.2, reasons: [], metrics: {} },
      detectResultUri: expect.stringMatching(/^s3:\/\/lake-bucket\/runs\/emr-ml-dev-drift-retrain\/run-1\/drift-detect\.json$/),
      costs: costs('drift-retrain', [['drift-process', 'driftProcess'], ['drift-detect', 'driftDetect']]),
    });
  });

  test('gate rejects a worse model → not promoted', async () => {
    const { visited, result } = runDrift({}, true, 1.2);
    const output: any = await result;
    expect(visited).not.toContain('Promote model');
    expect(output.gate).toMatchObject({ promote: false, candidateRmse: 1.2, currentRmse: 0.95 });
  });

  test('invalid execution input → ValidationError naming the field, via the failure path', async () => {
    const { visited, result } = runDrift({ testFraction: 2 }, true);
    await expect(result).rejects.toBeInstanceOf(ExecutionError);
    await expect(result).rejects.toThrow(/input\.testFraction/);
    expect(visited).toEqual(['Validate input', 'Notify failure']);
  });
});

describe('recommender-training executes as synthesized', () => {
  test('Parallel groups: results under $.results.<group>, every branch cost merged flat into $.costs', async () => {
    const { visited, result } = runRecommender({});
    const output: any = await result;
    expect(visited.filter((v) => v.startsWith('Record '))).toHaveLength(5);
    expect(Object.keys(output.results).sort()).toEqual(['etl', 'evaluate', 'model']);
    expect(Object.keys(output.results.etl).sort()).toEqual(['etlTest', 'etlTrain']);
    expect(output.results.model.train.outputs.model).toBe('s3://models-bucket/recommender/versions/v2');
    expect(output.costs).toEqual(
      costs('recommender-training', [['etl-train', 'etlTrain'], ['etl-test', 'etlTest'], ['create-futures', 'createFutures'], ['train', 'train'], ['evaluate', 'evaluate']]),
    );
    expect(output.promotion.modelUri).toBe('s3://models-bucket/recommender/versions/v2');
  });

  test('a failing cost step inside a Parallel branch does not fail the branch', async () => {
    const { visited, result } = runRecommender({}, ['etl-test', 'create-futures']);
    const output: any = await result;
    expect(visited).not.toContain('Notify failure');
    expect(Object.keys(output.costs).sort()).toEqual(['etlTrain', 'evaluate', 'train']);
    expect(output.results.etl.etlTest.status).toBe('SUCCEEDED');
  });
});
