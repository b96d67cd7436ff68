import * as z from 'zod';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import {
  type ExecutionContext,
  type GateConfig,
  type JobStep,
  type PlanEnvironment,
  type PlanHeader,
  alsCheckpointArgs,
  gateSettingsSchema,
  tuningArgs,
  tuningChoiceSchema,
  resolveTuning,
  inNamespace,
  jobStep,
  lakeUri,
  modelsUri,
  namespaceSchema,
  parseOrThrow,
  planHeader,
  resolveGate,
  s3Uri,
  s3Uris,
} from './common';
import type { PipelineKit } from './kit';

/**
 * recommender-training: ETL (train ‖ test) → (create futures ‖ train ALS) → evaluate → evaluation gate →
 * promote the model, or end "not promoted".
 */
export const name = 'recommender-training' as const;

/** Execution input: every field optional; absent fields take the stage defaults. */
export const inputSchema = z
  .object({
    /**
     * Isolated dataset namespace `smoke/<id>` (common.ts `NAMESPACE_ROOT`): every dataset, model version and the
     * model pointer go under `smoke/<id>/` in the lake and models buckets, inputs default to
     * `smoke/<id>/bronze/netflix/raw/…`; the stage's datasets and promoted model are never touched.
     */
    namespace: namespaceSchema.optional(),
    /** Netflix training files (default `bronze/netflix/raw/train*`). */
    trainInput: s3Uris.optional(),
    /** Netflix test files (default `bronze/netflix/raw/test*`). */
    testInput: s3Uris.optional(),
    /** Movies to score (default `bronze/netflix/raw/future*`). */
    futuresInput: s3Uris.optional(),
    shufflePartitions: z.number().int().min(1).max(100000).optional(),
    rank: z.number().int().min(1).max(1000).optional(),
    regParam: z.number().min(0).optional(),
    maxIter: z.number().int().min(1).max(1000).optional(),
    implicitPrefs: z.boolean().optional(),
    nonnegative: z.boolean().optional(),
    coldStartStrategy: z.enum(['drop', 'nan']).optional(),
    seed: z.number().int().optional(),
    k: z.number().int().min(1).max(1000).optional(),
    threshold: z.number().min(1).max(5).optional(),
    /**
     * Evaluation gate `{objective, margin, minPopularityLift}`, each field defaulting to the stage's
     * `recommender.gate` (objective ndcgAtK, margin 0.01 for ranking objectives / 0.02 for rmse and mae,
     * minPopularityLift 1.1; 0 disables the popularity check).
     */
    gate: gateSettingsSchema.optional(),
    /**
     * Hyper-parameter search of the train step (common.ts `tuningSchema`): fields replace the stage's
     * `recommender.tuning` (default: explicit and implicit ALS at two regularisations); `false` turns it off.
     */
    tuning: tuningChoiceSchema.optional(),
    /** Where the promoted-model pointer lives (default `s3://<models>/recommender/current.json`). */
    pointerUri: s3Uri.optional(),
  })
  .strict()
  .refine((input) => !(input.namespace && input.pointerUri), {
    path: ['pointerUri'],
    message: 'must not be set with namespace (a namespaced run promotes only to <namespace>/recommender/current.json)',
  });

export type RecommenderTrainingInput = z.input<typeof inputSchema>;

export interface RecommenderTrainingPlan extends PlanHeader {
  /** The isolated namespace every output of this execution is under (smoke runs), when one was given. */
  readonly namespace?: string;
  readonly steps: {
    readonly etlTrain: JobStep;
    readonly etlTest: JobStep;
    readonly createFutures: JobStep;
    readonly train: JobStep;
    /** `model` is added at run time from the train step's `outputs.model`. */
    readonly evaluate: JobStep;
    /** The promoted model's top-K unseen items per user (after promotion only; `model` added at run time). */
    readonly recommend: JobStep;
  };
  readonly gate: GateConfig;
  readonly promote: { readonly pointerUri: string };
}

/** Keys of the recommender datasets (lake) and model root/pointer (models bucket), inside `namespace` if given. */
export const recommenderKeys = (namespace?: string) => {
  const key = (k: string) => inNamespace(namespace, k);
  return {
    lake: {
      raw: key('bronze/netflix/raw/'),
      train: key('silver/netflix/ratings/train/'),
      test: key('silver/netflix/ratings/test/'),
      rejectsTrain: key('silver/netflix/rejects/train/'),
      rejectsTest: key('silver/netflix/rejects/test/'),
      futures: key('gold/netflix/futures/'),
      recommendations: key('gold/netflix/recommendations/'),
    },
    models: { modelRoot: key('recommender'), pointer: key('recommender/current.json') },
  };
};

/** Dataset roots (shared with drift-retrain, which never uses a namespace). */
export const recommenderDatasets = (env: PlanEnvironment, namespace?: string) => {
  const { lake, models } = recommenderKeys(namespace);
  return {
    raw: lakeUri(env, lake.raw),
    train: lakeUri(env, lake.train),
    test: lakeUri(env, lake.test),
    rejectsTrain: lakeUri(env, lake.rejectsTrain),
    rejectsTest: lakeUri(env, lake.rejectsTest),
    futures: lakeUri(env, lake.futures),
    recommendations: lakeUri(env, lake.recommendations),
    modelRoot: modelsUri(env, models.modelRoot),
    pointer: modelsUri(env, models.pointer),
  };
};

/** Pure: execution input + environment → every step's job args. */
export function plan(rawInput: unknown, env: PlanEnvironment, execution: ExecutionContext): RecommenderTrainingPlan {
  const input = parseOrThrow(inputSchema, rawInput ?? {}, 'input');
  const d = env.defaults.recommender;
  const ds = recommenderDatasets(env, input.namespace);
  const pointerUri = input.pointerUri ?? ds.pointer;
  const maxIter = input.maxIter ?? d.maxIter;
  const step = (job: string, key: string, args: Record<string, unknown>) => jobStep(env, execution, job, key, args);
  const gate = resolveGate(input.gate, d.gate);
  return {
    ...planHeader(name, env, execution),
    ...(input.namespace ? { namespace: input.namespace } : {}),
    steps: {
      etlTrain: step('etl', 'etlTrain', {
        input: (input.trainInput ?? [`${ds.raw}train*`]).join(','),
        output: ds.train,
        rejects: ds.rejectsTrain,
        shufflePartitions: input.shufflePartitions,
      }),
      etlTest: step('etl', 'etlTest', {
        input: (input.testInput ?? [`${ds.raw}test*`]).join(','),
        output: ds.test,
        rejects: ds.rejectsTest,
        shufflePartitions: input.shufflePartitions,
      }),
      createFutures: step('create_futures', 'createFutures', {
        input: (input.futuresInput ?? [`${ds.raw}future*`]).join(','),
        output: ds.futures,
      }),
      train: step('train', 'train', {
        train: ds.train,
        modelRoot: ds.modelRoot,
        rank: input.rank ?? d.rank,
        regParam: input.regParam ?? d.regParam,
        maxIter,
        implicitPrefs: input.implicitPrefs,
        nonnegative: input.nonnegative,
        coldStartStrategy: input.coldStartStrategy,
        seed: input.seed,
        ...tuningArgs(resolveTuning(input.tuning, d.tuning), gate.objective, input.k ?? d.k, input.threshold ?? d.threshold),
        ...alsCheckpointArgs(env, execution, maxIter, input.namespace),
      }),
      evaluate: step('evaluate', 'evaluate', {
        train: ds.train,
        test: ds.test,
        k: input.k ?? d.k,
        threshold: input.threshold ?? d.threshold,
        currentPointer: pointerUri,
      }),
      recommend: step('recommend', 'recommend', { train: ds.train, output: ds.recommendations, k: input.k ?? d.k }),
    },
    gate,
    promote: { pointerUri },
  };
}

/**
 * The gate + promote tail shared with drift-retrain: evaluate (model from `modelPath`) → gate → Choice →
 * promote → recommend (top-K unseen per user from the promoted model) [→ `afterPromote`] or "not promoted".
 */
export function evaluateGatePromote(
  kit: PipelineKit,
  modelPath: string,
  /** States run after the pointer is written, before "Model promoted" (drift-retrain consumes its batches). */
  afterPromote?: sfn.Chain,
): sfn.Chain {
  const { sfn } = kit;
  const evaluate = kit.sparkStep('evaluate', { runtimeArgs: { model: modelPath }, require: ['metrics'] });
  const gate = kit.lambdaStep(
    'Evaluation gate',
    'evaluationGate',
    { 'evaluation.$': '$.results.evaluate', 'gate.$': '$.plan.gate' },
    '$.gate',
    {
      comment:
        'Promote only if the candidate is no worse than the current model on the objective (within the margin) and beats the popularity baseline by minPopularityLift.',
    },
  );
  const promote = kit.lambdaStep(
    'Promote model',
    'promoteModel',
    {
      'modelUri.$': modelPath,
      'pointerUri.$': '$.plan.promote.pointerUri',
      'metrics.$': '$.results.evaluate.metrics',
      execution: kit.executionContext(),
    },
    '$.promotion',
    { comment: 'Atomically replaces the current-model pointer.' },
  );
  // The promoted model's top-K unseen items per user: what the recommender exists to produce.
  const recommend = kit.sparkStep('recommend', { runtimeArgs: { model: modelPath }, require: ['outputs.dataset'] });
  const promoted = new sfn.Succeed(kit.pipelineScope(), 'Model promoted');
  const notPromoted = new sfn.Succeed(kit.pipelineScope(), 'Model not promoted', {
    comment: 'The evaluation gate kept the current model; $.gate.reason says why.',
  });
  const decide = new sfn.Choice(kit.pipelineScope(), 'Promote?')
    .when(sfn.Condition.booleanEquals('$.gate.promote', true), (afterPromote ? promote.next(recommend).next(afterPromote) : promote.next(recommend)).next(promoted))
    .otherwise(notPromoted);
  return evaluate.next(gate).next(decide);
}

/** The state machine definition. */
export function definition(kit: PipelineKit): sfn.IChainable {
  const etl = kit.parallel('ETL', 'etl', [
    { key: 'etlTrain', build: (catchTo) => kit.sparkStep('etlTrain', { catchTo, require: ['outputs.dataset'] }) },
    { key: 'etlTest', build: (catchTo) => kit.sparkStep('etlTest', { catchTo, require: ['outputs.dataset'] }) },
  ]);
  const model = kit.parallel('Futures and training', 'model', [
    { key: 'createFutures', build: (catchTo) => kit.sparkStep('createFutures', { catchTo }) },
    { key: 'train', build: (catchTo) => kit.sparkStep('train', { catchTo, require: ['outputs.model'] }) },
  ]);
  return kit
    .validateInput()
    .next(etl)
    .next(model)
    .next(evaluateGatePromote(kit, '$.results.model.train.outputs.model'));
}
