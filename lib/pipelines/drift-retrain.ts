import * as z from 'zod';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import {
  type ExecutionContext,
  type JobStep,
  type PlanEnvironment,
  type PlanHeader,
  jobStep,
  lakeUri,
  parseOrThrow,
  planHeader,
  s3Uri,
} from './common';
import type { PipelineKit } from './kit';
import { evaluateGatePromote, recommenderDatasets } from './recommender-training';

/**
 * drift-retrain: process the new streaming batch → detect drift → Choice on `decision.retrain` →
 * merge → train → evaluate → gate → promote; or succeed with the no-drift report.
 */
export const name = 'drift-retrain' as const;

export const inputSchema = z
  .object({
    /** New rating batches (default `bronze/netflix/stream/incoming/`). */
    incoming: s3Uri.optional(),
    testFraction: z.number().gt(0).lt(1).optional(),
    seed: z.number().int().optional(),
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
    rmseMargin: z.number().min(0).optional(),
  })
  .strict();

export type DriftRetrainInput = z.input<typeof inputSchema>;

export interface DriftRetrainPlan extends PlanHeader {
  readonly steps: {
    readonly driftProcess: JobStep;
    readonly driftDetect: JobStep;
    readonly driftMerge: JobStep;
    readonly train: JobStep;
    readonly evaluate: JobStep;
  };
  readonly forceRetrain: boolean;
  readonly gate: { readonly rmseMargin: number };
  readonly promote: { readonly pointerUri: string };
}

export function plan(rawInput: unknown, env: PlanEnvironment, execution: ExecutionContext): DriftRetrainPlan {
  const input = parseOrThrow(inputSchema, rawInput ?? {}, 'input');
  const r = env.defaults.recommender;
  const d = env.defaults.drift;
  const ds = recommenderDatasets(env);
  const incoming = input.incoming ?? lakeUri(env, 'bronze/netflix/stream/incoming/');
  const staging = lakeUri(env, 'silver/netflix/stream/staging/');
  const step = (job: string, key: string, args: Record<string, unknown>) => jobStep(env, execution, job, key, args);
  return {
    ...planHeader(name, env, execution),
    steps: {
      driftProcess: step('drift', 'driftProcess', {
        action: 'process',
        input: incoming,
        staging,
        testFraction: input.testFraction ?? d.testFraction,
        seed: input.seed ?? d.seed,
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
        incoming,
      }),
      train: step('train', 'train', {
        train: ds.train,
        modelRoot: ds.modelRoot,
        rank: input.rank ?? r.rank,
        regParam: input.regParam ?? r.regParam,
        maxIter: input.maxIter ?? r.maxIter,
        seed: input.seed,
      }),
      evaluate: step('evaluate', 'evaluate', {
        train: ds.train,
        test: ds.test,
        k: input.k ?? r.k,
        threshold: input.threshold ?? r.threshold,
        currentPointer: ds.pointer,
      }),
    },
    forceRetrain: input.forceRetrain ?? false,
    gate: { rmseMargin: input.rmseMargin ?? r.rmseMargin },
    promote: { pointerUri: ds.pointer },
  };
}

/** JSONPath of the drift decision the Choice reads (written by `drift detect`, read by `read-result`). */
export const RETRAIN_DECISION_PATH = '$.results.driftDetect.decision.retrain';

export function definition(kit: PipelineKit): sfn.IChainable {
  const { sfn } = kit;
  const scope = kit.pipelineScope();
  const process = kit.sparkStep('driftProcess', { require: ['outputs'] });
  const detect = kit.sparkStep('driftDetect', { require: ['decision.retrain', 'decision.score'] });
  const retrain = kit
    .sparkStep('driftMerge')
    .next(kit.sparkStep('train', { require: ['outputs.model'] }))
    .next(evaluateGatePromote(kit, '$.results.train.outputs.model'));
  const noDrift = new sfn.Pass(scope, 'No-drift report', {
    comment: 'Ends with the drift decision (score, reasons, metrics) and the job runs\' costs as the execution output.',
    parameters: {
      status: 'NO_DRIFT',
      'decision.$': '$.results.driftDetect.decision',
      'detectResultUri.$': '$.plan.steps.driftDetect.args.resultUri',
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
  return kit.validateInput().next(process).next(detect).next(decide);
}
