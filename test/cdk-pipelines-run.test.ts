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
    [`Build ${step} request`]: record(`Build ${step} request`, (i) => ({ ApplicationId: 'app', Name: i.step, ClientToken: 't', ExecutionRoleArn: 'r', ExecutionTimeoutMinutes: 120, Mode: 'BATCH', RetryPolicy: { MaxAttempts: 2 }, JobDriver: {}, ConfigurationOverrides: {}, Tags: {} })),
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

/** The evaluate job's `metrics` (jobs/evaluate.py): the model's metrics with its baselines (popularity ndcgAtK 0.2). */
const evaluateMetrics = (ndcgAtK: number) => ({
  rmse: 0.9,
  mae: 0.7,
  precisionAtK: 0.2,
  recallAtK: 0.3,
  ndcgAtK,
  map: 0.25,
  mapAtK: 0.2,
  k: 10,
  threshold: 4,
  baselines: { globalMean: { rmse: 1.1, mae: 0.9 }, bias: { rmse: 0.95, mae: 0.75 }, popularity: { precisionAtK: 0.1, recallAtK: 0.15, ndcgAtK: 0.2, map: 0.1, mapAtK: 0.1 } },
  lift: { rmseVsBias: 0.95 / 0.9, ndcgAtKVsPopularity: ndcgAtK / 0.2 },
});

const MANIFEST = 's3://lake-bucket/silver/netflix/stream/staging/manifests/20261201T030000000000Z-abc123.json';
/** What `drift process` writes: counts and one manifest URI, however many batch files it took. */
const processResult = (batches: number) =>
  batches === 0
    ? { batchStatus: 'NO_NEW_BATCH', counts: { batches: 0, pendingBatches: 0, valid: 0, rejected: 0, train: 0, test: 0, written: 0 }, outputs: { input: 's3://lake-bucket/bronze/netflix/stream/incoming/', manifest: null } }
    : { batchStatus: 'NEW_BATCH', counts: { batches, pendingBatches: 0, valid: 10 * batches, rejected: 0 }, outputs: { manifest: MANIFEST, test: 's3://lake-bucket/silver/netflix/stream/staging/test@v1' } };

/** `candidateNdcg`: the retrained model's ndcgAtK (the default gate objective); the current model's is 0.35, popularity's 0.2. */
function runDrift(input: unknown, retrain: boolean, candidateNdcg = 0.4, failingCostSteps: string[] = [], batches = 3) {
  const { visited, record, spark } = harness(failingCostSteps);
  const jobArgs: Record<string, any> = {};
  const withArgs = (step: string, handlers: Record<string, (i: any) => unknown>) => {
    const build = handlers[`Build ${step} request`]!;
    handlers[`Build ${step} request`] = (i) => {
      jobArgs[step] = i.args;
      return build(i);
    };
    return handlers;
  };
  const handlers = {
    'Validate input': record('Validate input', (i) => planFor(i.pipeline, i.input, env, i.execution)),
    ...spark('drift-process', processResult(batches)),
    ...spark('drift-detect', { decision: { retrain, score: retrain ? 1.7 : 0.2, reasons: retrain ? ['kl'] : [], metrics: {} } }),
    ...withArgs('drift-merge', spark('drift-merge', { counts: { batches }, outputs: { manifest: MANIFEST } })),
    ...withArgs('drift-consume', spark('drift-consume', { counts: { batches, deletedBatches: batches, missingBatches: 0 }, outputs: { manifest: MANIFEST } })),
    ...spark('train', { outputs: { model: 's3://models-bucket/recommender/versions/v2' } }),
    ...spark('recommend', { outputs: { dataset: 's3://lake-bucket/gold/netflix/recommendations@v1' } }),
    ...spark('evaluate', { metrics: evaluateMetrics(candidateNdcg), currentModelMetrics: { rmse: 0.95, ndcgAtK: 0.35 } }),
    'Evaluation gate': record('Evaluation gate', (i) => decide(i.evaluation.metrics, i.evaluation.currentModelMetrics ?? null, i.gate)),
    'Promote model': record('Promote model', (i) => ({ version: 'v2', modelUri: i.modelUri })),
    'Notify failure': record('Notify failure', () => ({})),
  };
  const machine = new StateMachine(drift as any, { validationOptions: { noValidate: false } } as any);
  const execution = machine.run(input as any, { overrides: { taskResourceLocalHandlers: handlers as any }, context: context('drift-retrain') as any });
  return { visited, result: execution.result, jobArgs };
}

function runRecommender(input: unknown, failingCostSteps: string[] = []) {
  const { visited, record, spark } = harness(failingCostSteps);
  const handlers = {
    'Validate input': record('Validate input', (i) => planFor(i.pipeline, i.input, env, i.execution)),
    ...spark('etl-train', { outputs: { dataset: 's3://lake-bucket/silver/netflix/ratings/train@v1' } }),
    ...spark('etl-test', { outputs: { dataset: 's3://lake-bucket/silver/netflix/ratings/test@v1' } }),
    ...spark('create-futures', { outputs: {} }),
    ...spark('train', { outputs: { model: 's3://models-bucket/recommender/versions/v2' } }),
    ...spark('recommend', { outputs: { dataset: 's3://lake-bucket/gold/netflix/recommendations@v1' } }),
    ...spark('evaluate', { metrics: evaluateMetrics(0.4), currentModelMetrics: null }),
    'Evaluation gate': record('Evaluation gate', (i) => decide(i.evaluation.metrics, i.evaluation.currentModelMetrics ?? null, i.gate)),
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
  test('drift detected → merge, train, evaluate, gate, promote the new model, then consume the batches', async () => {
    const { visited, result, jobArgs } = runDrift({ klThreshold: 0.05 }, true);
    const output: any = await result;
    expect(visited).toEqual(
      expect.arrayContaining(['Run drift-merge', 'Run train', 'Run evaluate', 'Evaluation gate', 'Promote model', 'Run drift-consume']),
    );
    // the batches are deleted only after the new model's pointer is written
    expect(visited.indexOf('Run drift-consume')).toBeGreaterThan(visited.indexOf('Promote model'));
    expect(output.gate.promote).toBe(true);
    expect(output.promotion).toEqual({ version: 'v2', modelUri: 's3://models-bucket/recommender/versions/v2' });
    expect(output.plan.steps.driftDetect.args.klThreshold).toBe(0.05);
    expect(output.costs).toEqual(
      costs('drift-retrain', [['drift-process', 'driftProcess'], ['drift-detect', 'driftDetect'], ['drift-merge', 'driftMerge'], ['train', 'train'], ['evaluate', 'evaluate'], ['recommend', 'recommend'], ['drift-consume', 'driftConsume']]),
    );
    // merge and consume get the manifest of this execution's process step, consume the incoming prefix
    expect(jobArgs['drift-merge']).toMatchObject({ action: 'merge', manifest: MANIFEST });
    expect(jobArgs['drift-merge']).not.toHaveProperty('incoming');
    expect(jobArgs['drift-consume']).toMatchObject({ action: 'consume', manifest: MANIFEST, incoming: 's3://lake-bucket/bronze/netflix/stream/incoming/' });
    expect(output.results.driftConsume.counts.deletedBatches).toBe(3);
  });

  test('train checkpoints under the lake tmp/ prefix of this execution when maxIter exceeds one interval', async () => {
    const { result } = runDrift({ maxIter: 200 }, true);
    const output: any = await result;
    expect(output.plan.steps.train.args).toMatchObject({ maxIter: 200, checkpointDir: 's3://lake-bucket/tmp/checkpoints/emr-ml-dev-drift-retrain/run-1/train/', checkpointInterval: 5 });
    const short: any = await runDrift({ maxIter: 5 }, true).result;
    expect(short.plan.steps.train.args).not.toHaveProperty('checkpointDir');
  });

  test('gate rejects the retrained model → the batches are not consumed', async () => {
    const { visited, result, jobArgs } = runDrift({}, true, 0.3);
    const output: any = await result;
    expect(visited).toContain('Run drift-merge');
    expect(visited).not.toContain('Promote model');
    expect(visited.some((v) => v.includes('drift-consume'))).toBe(false);
    expect(jobArgs['drift-consume']).toBeUndefined();
    expect(output.results.driftConsume).toBeUndefined();
  });

  test('no batch in incoming/ (R10) → SUCCEEDED with status NO_NEW_BATCH, no detect, no alert — forceRetrain too', async () => {
    for (const input of [{}, { forceRetrain: true }]) {
      const { visited, result } = runDrift(input, true, 0.9, [], 0);
      const output: any = await result;
      expect(visited).toEqual(['Validate input', 'Build drift-process request', 'Run drift-process', 'Record drift-process cost', 'Read drift-process result']);
      expect(visited).not.toContain('Notify failure');
      expect(output).toEqual({
        status: 'NO_NEW_BATCH',
        input: 's3://lake-bucket/bronze/netflix/stream/incoming/',
        counts: expect.objectContaining({ batches: 0 }),
        processResultUri: 's3://lake-bucket/runs/emr-ml-dev-drift-retrain/run-1/drift-process.json',
        costs: costs('drift-retrain', [['drift-process', 'driftProcess']]),
      });
    }
  });

  test('a failing cost step loses only its record: the pipeline goes on and succeeds', async () => {
    const { visited, result } = runDrift({}, true, 0.9, ['drift-detect', 'train']);
    const output: any = await result;
    expect(visited).toEqual(expect.arrayContaining(['Record drift-detect cost', 'Read drift-detect result', 'Record train cost', 'Read train result', 'Promote model']));
    expect(visited).not.toContain('Notify failure');
    expect(Object.keys(output.costs).sort()).toEqual(['driftConsume', 'driftMerge', 'driftProcess', 'evaluate', 'recommend']);
    expect(output.error).toBeUndefined();
    expect(output.work.costError.Error).toBe('AccessDeniedException');
  });

  test('no drift → no merge/train, batches kept; ends with the no-drift report', async () => {
    const { visited, result } = runDrift({}, false);
    const output: any = await result;
    expect(visited).not.toContain('Run drift-merge');
    expect(visited).not.toContain('Run train');
    expect(visited).not.toContain('Run drift-consume');
    expect(output).toEqual({
      status: 'NO_DRIFT',
      decision: { retrain: false, score: 0.2, reasons: [], metrics: {} },
      detectResultUri: expect.stringMatching(/^s3:\/\/lake-bucket\/runs\/emr-ml-dev-drift-retrain\/run-1\/drift-detect\.json$/),
      manifest: MANIFEST,
      costs: costs('drift-retrain', [['drift-process', 'driftProcess'], ['drift-detect', 'driftDetect']]),
    });
  });

  test('gate rejects a worse model → not promoted', async () => {
    const { visited, result } = runDrift({}, true, 0.3);
    const output: any = await result;
    expect(visited).not.toContain('Promote model');
    expect(output.gate).toMatchObject({ promote: false, objective: 'ndcgAtK', candidate: 0.3, current: 0.35, margin: 0.01 });
  });

  test('the gate of the plan (execution input over the stage defaults) refuses a model that loses to popularity', async () => {
    // within the widened margin of the current model (0.21 ≥ 0.35 − 0.2), but 0.21 < 1.1 × popularity 0.2
    const { visited, result } = runDrift({ gate: { margin: 0.2 } }, true, 0.21);
    const output: any = await result;
    expect(output.plan.gate).toEqual({ objective: 'ndcgAtK', margin: 0.2, minPopularityLift: 1.1 });
    expect(visited).not.toContain('Promote model');
    expect(output.gate).toMatchObject({ promote: false, candidate: 0.21, current: 0.35, popularity: 0.2, minPopularityLift: 1.1 });
    expect(output.gate.reason).toContain('candidate ndcgAtK 0.21 < 1.1 × popularity 0.2 = 0.22');
    // the popularity check off: promoted
    const off: any = await runDrift({ gate: { margin: 0.2, minPopularityLift: 0 } }, true, 0.21).result;
    expect(off.gate.promote).toBe(true);
  });

  test('the state stays small however many batches: the process result carries counts and one manifest URI', async () => {
    const { result } = runDrift({}, true, 0.9, [], 2000);
    const output: any = await result;
    expect(output.results.driftProcess.counts.batches).toBe(2000);
    expect(JSON.stringify(output).length).toBeLessThan(16 * 1024);
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
    expect(visited.filter((v) => v.startsWith('Record '))).toHaveLength(6);
    expect(Object.keys(output.results).sort()).toEqual(['etl', 'evaluate', 'model', 'recommend']);
    expect(Object.keys(output.results.etl).sort()).toEqual(['etlTest', 'etlTrain']);
    expect(output.results.model.train.outputs.model).toBe('s3://models-bucket/recommender/versions/v2');
    // the promoted model's recommendations: the trained model, the training set's seen items, the lake's gold/
    expect(output.plan.steps.recommend.args).toMatchObject({ train: 's3://lake-bucket/silver/netflix/ratings/train/', output: 's3://lake-bucket/gold/netflix/recommendations/', k: 10 });
    expect(output.results.recommend.outputs.dataset).toBe('s3://lake-bucket/gold/netflix/recommendations@v1');
    expect(output.costs).toEqual(
      costs('recommender-training', [['etl-train', 'etlTrain'], ['etl-test', 'etlTest'], ['create-futures', 'createFutures'], ['train', 'train'], ['evaluate', 'evaluate'], ['recommend', 'recommend']]),
    );
    expect(output.promotion.modelUri).toBe('s3://models-bucket/recommender/versions/v2');
  });

  test('a failing cost step inside a Parallel branch does not fail the branch', async () => {
    const { visited, result } = runRecommender({}, ['etl-test', 'create-futures']);
    const output: any = await result;
    expect(visited).not.toContain('Notify failure');
    expect(Object.keys(output.costs).sort()).toEqual(['etlTrain', 'evaluate', 'recommend', 'train']);
    expect(output.results.etl.etlTest.status).toBe('SUCCEEDED');
  });
});
