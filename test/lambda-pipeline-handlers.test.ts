import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { sdkStreamMixin } from '@smithy/core/serde';
import { mockClient } from 'aws-sdk-client-mock';
import { Readable } from 'node:stream';
import { promote } from '../lambda/promote-model';
import { handler as readResult } from '../lambda/read-result';
import { handler as validateInput, resetEnvironmentCache } from '../lambda/validate-input';
import { planEnvironmentFor } from '../lib/pipelines/common';
import { parseStageConfig } from '../lib/config/stage-config';

const s3 = mockClient(S3Client);
const body = (text: string) => sdkStreamMixin(Readable.from([Buffer.from(text)])) as any;
const execution = { id: 'arn:exec', name: 'run-7', stateMachine: 'emr-ml-dev-recommender-training', startTime: '2026-03-15T10:00:00Z' };

beforeEach(() => {
  s3.reset();
  process.env.LAKE_BUCKET = 'lake-bucket';
  process.env.MODELS_BUCKET = 'models-bucket';
  process.env.PLAN_ENVIRONMENT = JSON.stringify(
    planEnvironmentFor(parseStageConfig('dev', {}), { lakeBucket: 'lake-bucket', modelsBucket: 'models-bucket' }),
  );
  resetEnvironmentCache();
});

describe('validate-input', () => {
  test('tuning: the train step gets the search grid, the objective (default: the gate\'s) and the evaluation\'s K', async () => {
    const plan: any = await validateInput({
      pipeline: 'recommender-training',
      input: { tuning: { grid: { rank: [8, 16], implicitPrefs: [false, true] }, maxModels: 3 }, k: 5 },
      execution,
    });
    expect(plan.steps.train.args).toMatchObject({
      gridRank: [8, 16], gridImplicitPrefs: [false, true], tuneObjective: 'ndcgAtK', tuneMaxModels: 3, tuneK: 5, tuneThreshold: 4,
    });
    const drift: any = await validateInput({ pipeline: 'drift-retrain', input: { tuning: { grid: { regParam: [0.01, 0.1] }, objective: 'rmse' } }, execution });
    expect(drift.steps.train.args).toMatchObject({ gridRegParam: [0.01, 0.1], tuneObjective: 'rmse' });
    // the stage's default search: explicit and implicit ALS at two regularisations, scored on the gate's objective
    const byDefault: any = await validateInput({ pipeline: 'recommender-training', input: {}, execution });
    expect(byDefault.steps.train.args).toMatchObject({
      gridRegParam: [0.1, 1], gridImplicitPrefs: [false, true], gridAlpha: [20], tuneMaxModels: 4, tuneObjective: 'ndcgAtK', tuneK: 10,
    });
    expect(byDefault.steps.train.args).not.toHaveProperty('gridRank');
    const timed: any = await validateInput({ pipeline: 'recommender-training', input: { tuning: { grid: { rank: [8] }, split: 'time' } }, execution });
    expect(timed.steps.train.args).toMatchObject({ gridRank: [8], validationSplit: 'time', tuneMaxModels: 4 });
    expect(timed.steps.train.args).not.toHaveProperty('gridRegParam');
    const off: any = await validateInput({ pipeline: 'recommender-training', input: { tuning: false }, execution });
    expect(off.steps.train.args).not.toHaveProperty('gridRegParam');
    expect(off.steps.train.args).not.toHaveProperty('tuneObjective');
    await expect(validateInput({ pipeline: 'recommender-training', input: { tuning: { grid: {} } }, execution })).rejects.toThrow(/input\.tuning\.grid: must name at least one parameter/);
  });

  test('returns the full plan with defaults and per-run overrides', async () => {
    const plan: any = await validateInput({ pipeline: 'recommender-training', input: { rank: 8, k: 5 }, execution });
    expect(plan.steps.train).toEqual({
      job: 'train',
      step: 'train',
      args: {
        train: 's3://lake-bucket/silver/netflix/ratings/train/',
        modelRoot: 's3://models-bucket/recommender',
        rank: 8,
        regParam: 0.1,
        maxIter: 15,
        // more iterations than one checkpoint interval: ALS checkpoints per execution under the lake's tmp/
        checkpointDir: 's3://lake-bucket/tmp/checkpoints/emr-ml-dev-recommender-training/run-7/train/',
        checkpointInterval: 5,
        resultUri: 's3://lake-bucket/runs/emr-ml-dev-recommender-training/run-7/train.json',
        // the stage's default search, ranked at the execution's K
        gridRegParam: [0.1, 1],
        gridImplicitPrefs: [false, true],
        gridAlpha: [20],
        tuneObjective: 'ndcgAtK',
        tuneMaxModels: 4,
        tuneK: 5,
        tuneThreshold: 4,
      },
    });
    expect(plan.steps.evaluate.args).toMatchObject({ k: 5, threshold: 4, currentPointer: 's3://models-bucket/recommender/current.json' });
    // up to one interval ALS would only checkpoint iteration 0: no checkpoint directory
    const short: any = await validateInput({ pipeline: 'recommender-training', input: { maxIter: 5 }, execution });
    expect(short.steps.train.args).not.toHaveProperty('checkpointDir');
    expect(short.steps.train.args).not.toHaveProperty('checkpointInterval');
    expect(plan.steps.etlTrain.args).toMatchObject({ input: 's3://lake-bucket/bronze/netflix/raw/train*', rejects: 's3://lake-bucket/silver/netflix/rejects/train/' });
    expect(plan.gate).toEqual({ objective: 'ndcgAtK', margin: 0.01, minPopularityLift: 1.1 });
  });
  test('the gate: execution input over the stage defaults, the margin defaulting per objective', async () => {
    const gateOf = async (pipeline: string, gate: unknown) => ((await validateInput({ pipeline, input: { gate }, execution })) as any).gate;
    // an error objective without a margin gets 0.02, a ranking one 0.01
    await expect(gateOf('recommender-training', { objective: 'rmse' })).resolves.toEqual({ objective: 'rmse', margin: 0.02, minPopularityLift: 1.1 });
    await expect(gateOf('drift-retrain', { objective: 'precisionAtK', minPopularityLift: 0 })).resolves.toEqual({ objective: 'precisionAtK', margin: 0.01, minPopularityLift: 0 });
    await expect(gateOf('drift-retrain', { margin: 0.005 })).resolves.toEqual({ objective: 'ndcgAtK', margin: 0.005, minPopularityLift: 1.1 });
    // a stage's gate is the default; its margin belongs to its objective
    process.env.PLAN_ENVIRONMENT = JSON.stringify(
      planEnvironmentFor(parseStageConfig('dev', { recommender: { gate: { objective: 'mae', margin: 0.05, minPopularityLift: 1.2 } } }), { lakeBucket: 'lake-bucket', modelsBucket: 'models-bucket' }),
    );
    resetEnvironmentCache();
    await expect(gateOf('drift-retrain', undefined)).resolves.toEqual({ objective: 'mae', margin: 0.05, minPopularityLift: 1.2 });
    await expect(gateOf('recommender-training', { objective: 'mapAtK' })).resolves.toEqual({ objective: 'mapAtK', margin: 0.01, minPopularityLift: 1.2 });
  });
  test('a bad stage gate fails synth naming the field', () => {
    expect(() => parseStageConfig('dev', { recommender: { gate: { objective: 'auc' } } })).toThrow(/stages\.dev\.recommender\.gate\.objective/);
    expect(() => parseStageConfig('dev', { recommender: { rmseMargin: 0.02 } })).toThrow(/stages\.dev\.recommender: Unrecognized key: "rmseMargin"/);
  });
  test('taxi months default to the newest published month: the start month minus taxi.publishLagMonths (2)', async () => {
    const plan: any = await validateInput({ pipeline: 'taxi-medallion', input: {}, execution });
    expect(plan.months).toEqual(['2026-01']);
    expect(plan.ingest).toEqual({ months: ['2026-01'], sourceUrlTemplate: expect.stringContaining('{month}') });
    expect(plan.steps.taxiFeatures.args.months).toEqual(['2026-01']);
  });
  test('news runs in lake mode without a database', async () => {
    const plan: any = await validateInput({ pipeline: 'news-enrichment', input: {}, execution });
    // check-articles gets the sink too: the processing state is in the sink table's commits (commitInfo.userMetadata)
    expect(plan.checkArticles).toEqual({ source: 's3://lake-bucket/bronze/news/articles/', sink: 's3://lake-bucket/gold/news/articles/' });
    expect(plan.steps.mlProcessing.args).toMatchObject({ source: 's3://lake-bucket/bronze/news/articles/', sink: 's3://lake-bucket/gold/news/articles/' });
  });
  test('recommender-training in a namespace: inputs, datasets, model root and pointer all under smoke/<id>/', async () => {
    const plan: any = await validateInput({ pipeline: 'recommender-training', input: { namespace: 'smoke/b1' }, execution });
    expect(plan.namespace).toBe('smoke/b1');
    expect(plan.steps.etlTrain.args).toMatchObject({
      input: 's3://lake-bucket/smoke/b1/bronze/netflix/raw/train*',
      output: 's3://lake-bucket/smoke/b1/silver/netflix/ratings/train/',
      rejects: 's3://lake-bucket/smoke/b1/silver/netflix/rejects/train/',
    });
    expect(plan.steps.createFutures.args.output).toBe('s3://lake-bucket/smoke/b1/gold/netflix/futures/');
    expect(plan.steps.train.args.modelRoot).toBe('s3://models-bucket/smoke/b1/recommender');
    expect(plan.steps.evaluate.args.currentPointer).toBe('s3://models-bucket/smoke/b1/recommender/current.json');
    expect(plan.promote).toEqual({ pointerUri: 's3://models-bucket/smoke/b1/recommender/current.json' });
  });
  test.each([
    [{ pipeline: 'recommender-training', input: { rank: 0 }, execution }, /input\.rank/],
    [{ pipeline: 'recommender-training', input: { rnak: 3 }, execution }, /input: Unrecognized key: "rnak"/],
    [{ pipeline: 'taxi-medallion', input: { months: ['2024-13'] }, execution }, /input\.months\[0\]: must be a month YYYY-MM/],
    [{ pipeline: 'taxi-medallion', input: { sourceUrlTemplate: 'http://127.0.0.1:8443/yellow_{month}.parquet' }, execution }, /input\.sourceUrlTemplate: must be an https URL containing \{month\}/],
    [{ pipeline: 'drift-retrain', input: { incoming: 'http://x' }, execution }, /input\.incoming: must be an s3:\/\/bucket\/key URI/],
    [{ pipeline: 'recommender-training', input: { gate: { objective: 'auc' } }, execution }, /input\.gate\.objective: Invalid option/],
    [{ pipeline: 'drift-retrain', input: { gate: { margin: -0.1 } }, execution }, /input\.gate\.margin/],
    [{ pipeline: 'drift-retrain', input: { gate: { minPopularityLift: -1 } }, execution }, /input\.gate\.minPopularityLift/],
    [{ pipeline: 'drift-retrain', input: { rmseMargin: 0.02 }, execution }, /input: Unrecognized key: "rmseMargin"/],
    [{ pipeline: 'nope', input: {}, execution }, /Invalid pipeline: "nope"/],
    [{ pipeline: 'drift-retrain', input: {}, execution: { ...execution, name: 'a/b' } }, /execution\.name/],
    [{ pipeline: 'recommender-training', input: { namespace: 'smoke/b1', pointerUri: 's3://models-bucket/recommender/current.json' }, execution }, /input\.pointerUri: must not be set with namespace/],
    [{ pipeline: 'recommender-training', input: { namespace: 'tmp/b1' }, execution }, /input\.namespace: must be "smoke\/<id>"/],
    [{ pipeline: 'recommender-training', input: { namespace: 'smoke/a/b' }, execution }, /input\.namespace: must be "smoke\/<id>"/],
    [{ pipeline: 'news-enrichment', input: { sink: 's3://lake-bucket/silver/news/articles/' }, execution }, /input\.sink: lake mode reads and writes news datasets under s3:\/\/lake-bucket\/gold\/news\/<name>\//],
    [{ pipeline: 'news-enrichment', input: { source: 's3://other-bucket/bronze/news/articles/' }, execution }, /input\.source: lake mode .* under s3:\/\/lake-bucket\/bronze\/news\//],
  ])('rejects bad input with a ValidationError naming the field (%#)', async (event, message) => {
    const error: any = await validateInput(event).catch((e: unknown) => e);
    expect(error.name).toBe('ValidationError');
    expect(error.message).toMatch(message);
  });
});

describe('read-result', () => {
  const uri = 's3://lake-bucket/runs/sm/run-7/drift-detect.json';
  test('returns the parsed result', async () => {
    const result = { job: 'drift', status: 'SUCCEEDED', decision: { retrain: true, score: 1.4 } };
    s3.on(GetObjectCommand, { Bucket: 'lake-bucket', Key: 'runs/sm/run-7/drift-detect.json' }).resolves({ Body: body(JSON.stringify(result)) });
    await expect(readResult({ resultUri: uri, require: ['decision.retrain'] })).resolves.toEqual(result);
  });
  test('a missing result is a JobResultError', async () => {
    s3.on(GetObjectCommand).rejects(new NoSuchKey({ message: 'no', $metadata: {} }));
    await expect(readResult({ resultUri: uri })).rejects.toMatchObject({ name: 'JobResultError', message: expect.stringContaining('No job result at') });
  });
  test('a FAILED result is a JobResultError carrying the job error', async () => {
    s3.on(GetObjectCommand).resolves({ Body: body(JSON.stringify({ job: 'etl', status: 'FAILED', error: 'input missing' })) });
    await expect(readResult({ resultUri: uri })).rejects.toMatchObject({ name: 'JobResultError', message: expect.stringContaining('FAILED') });
  });
  test('a result without a required key is a JobResultError (the Choice never sees a missing decision)', async () => {
    s3.on(GetObjectCommand).resolves({ Body: body(JSON.stringify({ job: 'drift', status: 'SUCCEEDED', decision: { score: 1 } })) });
    await expect(readResult({ resultUri: uri, require: ['decision.retrain'] })).rejects.toThrow('lacks decision.retrain');
  });
  test('results outside runs/ of the lake are refused', async () => {
    await expect(readResult({ resultUri: 's3://other/runs/x.json' })).rejects.toMatchObject({ name: 'ValidationError' });
    expect(s3.calls()).toHaveLength(0);
  });
});

// evaluation-gate: test/lambda-evaluation-gate.test.ts

describe('promote-model', () => {
  const now = () => new Date('2026-11-21T06:00:00Z');
  test('writes the pointer in one PUT and returns it', async () => {
    s3.on(PutObjectCommand).resolves({});
    const pointer = await promote(
      { modelUri: 's3://models-bucket/recommender/versions/20261121T055900Z/', pointerUri: 's3://models-bucket/recommender/current.json', metrics: { rmse: 0.88 }, execution },
      now,
    );
    expect(pointer).toEqual({
      version: '20261121T055900Z',
      modelUri: 's3://models-bucket/recommender/versions/20261121T055900Z',
      path: 's3://models-bucket/recommender/versions/20261121T055900Z',
      metrics: { rmse: 0.88 },
      promotedAt: '2026-11-21T06:00:00.000Z',
      promotedBy: { executionId: 'arn:exec', executionName: 'run-7', stateMachine: 'emr-ml-dev-recommender-training' },
    });
    const put = s3.commandCalls(PutObjectCommand)[0]!.args[0].input;
    expect(put).toMatchObject({ Bucket: 'models-bucket', Key: 'recommender/current.json', ContentType: 'application/json' });
    expect(JSON.parse(String(put.Body))).toEqual(pointer);
  });
  test('promotes a smoke run\'s model to its namespace pointer', async () => {
    s3.on(PutObjectCommand).resolves({});
    const pointer = await promote(
      { modelUri: 's3://models-bucket/smoke/b1/recommender/versions/v7', pointerUri: 's3://models-bucket/smoke/b1/recommender/current.json', metrics: { rmse: 1.1 }, execution },
      now,
    );
    expect(pointer).toMatchObject({ version: 'v7', modelUri: 's3://models-bucket/smoke/b1/recommender/versions/v7' });
    expect(s3.commandCalls(PutObjectCommand)[0]!.args[0].input).toMatchObject({ Bucket: 'models-bucket', Key: 'smoke/b1/recommender/current.json' });
  });
  test.each([
    ['s3://models-bucket/topic/versions/v1', 's3://models-bucket/recommender/current.json', /event\.modelUri/],
    ['s3://models-bucket/recommender/versions/v1', 's3://lake-bucket/recommender/current.json', /event\.pointerUri/],
    ['s3://models-bucket/recommender/versions/v1', 's3://models-bucket/recommender/latest.json', /event\.pointerUri/],
    // a smoke run never points at (or promotes) the stage's model, and only its recommender pointer is writable
    ['s3://models-bucket/recommender/versions/v1', 's3://models-bucket/smoke/b1/recommender/current.json', /event\.modelUri: must be s3:\/\/models-bucket\/smoke\/b1\/recommender\/versions\/<version>/],
    ['s3://models-bucket/smoke/b1/recommender/versions/v1', 's3://models-bucket/recommender/current.json', /event\.modelUri/],
    ['s3://models-bucket/smoke/b1/topic/versions/v1', 's3://models-bucket/smoke/b1/topic/current.json', /event\.pointerUri: .*one of recommender\/current\.json, topic\/current\.json, smoke\/\*\/recommender\/current\.json/],
    ['s3://models-bucket/other/versions/v1', 's3://models-bucket/other/current.json', /event\.pointerUri/],
  ])('refuses model %s / pointer %s', async (modelUri, pointerUri, message) => {
    await expect(promote({ modelUri, pointerUri, metrics: {} }, now)).rejects.toThrow(message);
    expect(s3.calls()).toHaveLength(0);
  });
});
