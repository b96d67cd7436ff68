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
  jobStep,
  lakeUri,
  parseOrThrow,
  planHeader,
  resolveGate,
  s3Uri,
} from './common';
import type { PipelineKit } from './kit';
import { evaluateGatePromote, recommenderDatasets } from './recommender-training';

/**
 * drift-retrain: process the new streaming batches → no batch: succeed "No new batch" (quiet, no alert) → detect
 * drift → Choice on `decision.retrain` → merge → train → evaluate → gate → promote → consume the batches; or
 * succeed with the no-drift report. Batches leave `incoming/` only after a promoted retrain (`drift consume`);
 * a no-drift, not-promoted or failed run keeps them for the next run, which takes the newest `maxBatches`.
 */
export const name = 'drift-retrain' as const;

export const inputSchema = z
  .object({
    /** New rating batches (default `bronze/netflix/stream/incoming/`). */
    incoming: s3Uri.optional(),
    testFraction: z.number().gt(0).lt(1).optional(),
    seed: z.number().int().optional(),
    /** Batch files one run takes, the newest (default: the job's, 1000); older ones wait in `incoming/`. */
    maxBatches: z.number().int().min(1).max(100000).optional(),
    klThreshold: z.number().positive().optional(),
    meanThreshold: z.number().positive().optional(),
    medianThreshold: z.number().positive().optional(),
    weights: z.array(z.number().min(0)).length(3).optional(),
    scoreThreshold: z.number().positive().optional(),
    /** Retrain even without drift (the detect step still runs and is reported). */
    forceRetrain: z.boolean().optional(),
    rank: z.number().int().min(1).max(1000).optional(),
    regParam: z.number().min(0).optional(),
    maxIter: z.number().int().min(1).max(1000).optional(),
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
  })
  .strict();

export type DriftRetrainInput = z.input<typeof inputSchema>;

export interface DriftRetrainPlan extends PlanHeader {
  readonly steps: {
    readonly driftProcess: JobStep;
    readonly driftDetect: JobStep;
    /** `manifest` is added at run time from the process step's `outputs.manifest`. */
    readonly driftMerge: JobStep;
    readonly train: JobStep;
    readonly evaluate: JobStep;
    /** The promoted model's recommendations (after promotion only; `model` added at run time). */
    readonly recommend: JobStep;
    /** Runs after promotion only; `manifest` added at run time. */
    readonly driftConsume: JobStep;
  };
  readonly forceRetrain: boolean;
  readonly gate: GateConfig;
  readonly promote: { readonly pointerUri: string };
}

export function plan(rawInput: unknown, env: PlanEnvironment, execution: ExecutionContext): DriftRetrainPlan {
  const input = parseOrThrow(inputSchema, rawInput ?? {}, 'input');
  const r = env.defaults.recommender;
  const d = env.defaults.drift;
  const ds = recommenderDatasets(env);
  const incoming = input.incoming ?? lakeUri(env, 'bronze/netflix/stream/incoming/');
  const staging = lakeUri(env, 'silver/netflix/stream/staging/');
  const maxIter = input.maxIter ?? r.maxIter;
  const step = (job: string, key: string, args: Record<string, unknown>) => jobStep(env, execution, job, key, args);
  const gate = resolveGate(input.gate, r.gate);
  return {
    ...planHeader(name, env, execution),
    steps: {
      driftProcess: step('drift', 'driftProcess', {
        action: 'process',
        input: incoming,
        staging,
        testFraction: input.testFraction ?? d.testFraction,
        seed: input.seed ?? d.seed,
        maxBatches: input.maxBatches,
      }),
      driftDetect: step('drift', 'driftDetect', {
        action: 'detect',
        baselineTest: ds.test,
        newTest: `${staging}test/`,
        currentPointer: ds.pointer,
        klThreshold: input.klThreshold ?? d.klThreshold,
        meanThreshold: input.meanThreshold ?? d.meanThreshold,
        medianThreshold: input.medianThreshold ?? d.medianThreshold,
        weights: input.weights ?? d.weights,
        scoreThreshold: input.scoreThreshold ?? d.scoreThreshold,
      }),
      driftMerge: step('drift', 'driftMerge', {
        action: 'merge',
        staging,
        train: ds.train,
        test: ds.test,
      }),
      train: step('train', 'train', {
        train: ds.train,
        modelRoot: ds.modelRoot,
        rank: input.rank ?? r.rank,
        regParam: input.regParam ?? r.regParam,
        maxIter,
        seed: input.seed,
        ...tuningArgs(resolveTuning(input.tuning, r.tuning), gate.objective, input.k ?? r.k, input.threshold ?? r.threshold),
        ...alsCheckpointArgs(env, execution, maxIter),
      }),
      evaluate: step('evaluate', 'evaluate', {
        train: ds.train,
        test: ds.test,
        k: input.k ?? r.k,
        threshold: input.threshold ?? r.threshold,
        currentPointer: ds.pointer,
      }),
      recommend: step('recommend', 'recommend', { train: ds.train, output: ds.recommendations, k: input.k ?? r.k }),
      driftConsume: step('drift', 'driftConsume', { action: 'consume', incoming }),
    },
    forceRetrain: input.forceRetrain ?? false,
    gate,
    promote: { pointerUri: ds.pointer },
  };
}

/** JSONPath of the drift decision the Choice reads (written by `drift detect`, read by `read-result`). */
export const RETRAIN_DECISION_PATH = '$.results.driftDetect.decision.retrain';
/** JSONPath of the process step's batch status (`NEW_BATCH` / `NO_NEW_BATCH`, written by `drift process`). */
export const BATCH_STATUS_PATH = '$.results.driftProcess.batchStatus';
/** JSONPath of the batch manifest the process step wrote (merge checks the staging against it, consume deletes its files). */
export const MANIFEST_PATH = '$.results.driftProcess.outputs.manifest';

export function definition(kit: PipelineKit): sfn.IChainable {
  const { sfn } = kit;
  const scope = kit.pipelineScope();
  const process = kit.sparkStep('driftProcess', { require: ['batchStatus', 'counts.batches'] });
  const detect = kit.sparkStep('driftDetect', { require: ['decision.retrain', 'decision.score'] });
  const consume = kit.sparkStep('driftConsume', { runtimeArgs: { manifest: MANIFEST_PATH }, require: ['counts.deletedBatches'] });
  const retrain = kit
    .sparkStep('driftMerge', { runtimeArgs: { manifest: MANIFEST_PATH } })
    .next(kit.sparkStep('train', { require: ['outputs.model'] }))
    .next(evaluateGatePromote(kit, '$.results.train.outputs.model', consume));
  const noNewBatch = new sfn.Pass(scope, 'No-new-batch report', {
    comment: 'Nothing in incoming/: ends quietly (no alert) with the process step\'s counts and cost as the output.',
    parameters: {
      status: 'NO_NEW_BATCH',
      'input.$': '$.plan.steps.driftProcess.args.input',
      'counts.$': '$.results.driftProcess.counts',
      'processResultUri.$': '$.plan.steps.driftProcess.args.resultUri',
      'costs.$': '$.costs',
    },
  }).next(new sfn.Succeed(scope, 'No new batch'));
  const noDrift = new sfn.Pass(scope, 'No-drift report', {
    comment: 'Ends with the drift decision (score, reasons, metrics) and the job runs\' costs as the execution output; the batches stay in incoming/.',
    parameters: {
      status: 'NO_DRIFT',
      'decision.$': '$.results.driftDetect.decision',
      'detectResultUri.$': '$.plan.steps.driftDetect.args.resultUri',
      'manifest.$': MANIFEST_PATH,
      'costs.$': '$.costs',
    },
  }).next(new sfn.Succeed(scope, 'No drift'));
  const decide = new sfn.Choice(scope, 'Drift detected?', { comment: 'Reads decision.retrain of the drift detect result.' })
    .when(
      sfn.Condition.or(
        sfn.Condition.booleanEquals(RETRAIN_DECISION_PATH, true),
        sfn.Condition.booleanEquals('$.plan.forceRetrain', true),
      ),
      retrain,
    )
    .otherwise(noDrift);
  const anyBatch = new sfn.Choice(scope, 'New batch?', {
    comment: 'drift process found no batch file (a fresh stage, or every batch consumed): nothing to detect or merge, forceRetrain included.',
  })
    .when(sfn.Condition.stringEquals(BATCH_STATUS_PATH, 'NO_NEW_BATCH'), noNewBatch)
    .otherwise(detect.next(decide));
  return kit.validateInput().next(process).next(anyBatch);
}
