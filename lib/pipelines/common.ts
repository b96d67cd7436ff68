import * as z from 'zod';
import type { StageConfig } from '../config/stage-config';

/**
 * Pure, CDK-free building blocks shared by the four pipelines. The `validate-input` Lambda bundles this file
 * and the pipelines' `plan()` functions, so nothing here (or in a pipeline's runtime imports) may import
 * aws-cdk-lib: pipeline definitions receive CDK through a `PipelineKit` (type-only import).
 */

/** Raised for invalid execution input; Step Functions sees the error name `ValidationError`. */
export class ValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValidationError';
  }
}

/** The part of the stage configuration a plan needs (passed to the Lambda as `PLAN_ENVIRONMENT`). */
export interface PlanDefaults {
  readonly recommender: StageConfig['recommender'];
  readonly drift: StageConfig['drift'];
  readonly taxi: StageConfig['taxi'];
  readonly news: StageConfig['news'];
}

/** Everything outside the execution input that a plan depends on. */
export interface PlanEnvironment {
  readonly stage: string;
  readonly lakeBucket: string;
  readonly modelsBucket: string;
  /** `none` = news pipeline in lake mode; otherwise articles come from PostgreSQL. */
  readonly databaseMode: 'none' | 'existing' | 'provisioned';
  readonly defaults: PlanDefaults;
}

/** What Step Functions tells the first state about the execution (`$$.Execution.*`, `$$.StateMachine.Name`). */
export interface ExecutionContext {
  readonly id?: string;
  readonly name: string;
  readonly stateMachine: string;
  /** ISO-8601 start time (`$$.Execution.StartTime`). */
  readonly startTime?: string;
}

/** One Spark step: exactly the `build-job-request` input minus `execution`. */
export interface JobStep {
  readonly job: string;
  readonly step: string;
  readonly args: Record<string, unknown> & { readonly resultUri: string };
}

/** Common header of every plan. */
export interface PlanHeader {
  readonly pipeline: PipelineName;
  readonly stage: string;
  readonly execution: { readonly name: string; readonly stateMachine: string };
  /** `s3://<lake>/runs/<state machine>/<execution name>/` */
  readonly runPrefix: string;
}

export const PIPELINE_NAMES = ['recommender-training', 'drift-retrain', 'news-enrichment', 'taxi-medallion'] as const;
export type PipelineName = (typeof PIPELINE_NAMES)[number];

/** An S3 URI, `s3://<bucket>/<key>`. */
export const s3Uri = z
  .string()
  .regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/, 'must be an s3://bucket/key URI');

/** One or more S3 URIs, given as an array or a comma-separated string. */
export const s3Uris = z.union([
  z.array(s3Uri).min(1),
  z
    .string()
    .transform((s) => s.split(',').map((x) => x.trim()))
    .pipe(z.array(s3Uri).min(1)),
]);

const executionSchema = z.object({
  id: z.string().optional(),
  name: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,80}$/, 'must be 1-80 characters of letters, digits, _ . - (it becomes part of S3 keys)'),
  stateMachine: z.string().regex(/^[A-Za-z0-9_-]{1,80}$/, 'must be a state machine name'),
  startTime: z.string().optional(),
});

/** Validate with a zod schema; throws {@link ValidationError} naming every bad field as `<root>.<path>`. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, root: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const details = result.error.issues
    .map((issue) => {
      const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
      return `${root}${path}: ${issue.message}`;
    })
    .join('; ');
  throw new ValidationError(`Invalid ${root}: ${details}`);
}

export function parseExecution(execution: unknown): ExecutionContext {
  return parseOrThrow(executionSchema, execution, 'execution');
}

export function runPrefix(env: PlanEnvironment, execution: ExecutionContext): string {
  return `s3://${env.lakeBucket}/runs/${execution.stateMachine}/${execution.name}/`;
}

/** `s3://<lake>/runs/<state machine>/<execution name>/<step>.json` */
export function resultUri(env: PlanEnvironment, execution: ExecutionContext, step: string): string {
  return `${runPrefix(env, execution)}${step}.json`;
}

/**
 * `s3://<lake>/[<namespace>/]tmp/checkpoints/<state machine>/<execution name>/<step>/`: a Spark job's checkpoint
 * directory (ALS). Under `tmp/` (or the namespace), which the job role may read and write and which expires after
 * `logRetentionDays`; per execution and step, so concurrent runs never share one.
 */
export function checkpointUri(env: PlanEnvironment, execution: ExecutionContext, step: string, namespace?: string): string {
  return `s3://${env.lakeBucket}/${inNamespace(namespace, `tmp/checkpoints/${execution.stateMachine}/${execution.name}/${step}/`)}`;
}

/** ALS checkpoints its factors every this many iterations (the train job's `--checkpoint-interval`). */
export const ALS_CHECKPOINT_INTERVAL = 5;

/**
 * The train step's checkpoint arguments: with more iterations than one checkpoint interval, a checkpoint
 * directory under `tmp/` ({@link checkpointUri}) — ALS's lineage grows with every iteration and overflows the JVM's
 * default 1 MiB thread stack (EMR Serverless') from about ten iterations; with fewer, none (ALS would
 * only checkpoint iteration 0).
 */
export function alsCheckpointArgs(
  env: PlanEnvironment,
  execution: ExecutionContext,
  maxIter: number,
  namespace?: string,
): { checkpointDir?: string; checkpointInterval?: number } {
  if (maxIter <= ALS_CHECKPOINT_INTERVAL) return {};
  return { checkpointDir: checkpointUri(env, execution, 'train', namespace), checkpointInterval: ALS_CHECKPOINT_INTERVAL };
}

export function planHeader(pipeline: PipelineName, env: PlanEnvironment, execution: ExecutionContext): PlanHeader {
  return {
    pipeline,
    stage: env.stage,
    execution: { name: execution.name, stateMachine: execution.stateMachine },
    runPrefix: runPrefix(env, execution),
  };
}

/**
 * Isolated dataset namespaces — what the post-deploy smoke test runs in. An execution input `namespace:
 * "smoke/<id>"` puts every dataset, model version and model pointer of the execution under `smoke/<id>/` in the
 * lake and models buckets (same layout below it), so it never reads or writes the stage's own datasets or its
 * promoted models. `smoke/` is the only namespace root the stage grants: the job role may read/write it in both
 * buckets, promote-model may write `smoke/<id>/recommender/current.json`, and objects under it expire after
 * `logRetentionDays`. Job results stay under `runs/<state machine>/<execution>/` (per execution already).
 */
export const NAMESPACE_ROOT = 'smoke/';
/** A namespace id: one S3 key segment (it also becomes part of the smoke execution's name). */
const NAMESPACE_ID = '[a-z0-9][a-z0-9-]{0,62}';
export const namespaceSchema = z
  .string()
  .regex(new RegExp(`^${NAMESPACE_ROOT}${NAMESPACE_ID}$`), 'must be "smoke/<id>" with an id of 1-63 lower-case letters, digits and - (the only namespace root the stage grants)');
/** The namespace of one smoke run (`smoke/<id>`). */
export const smokeNamespace = (id: string): string => `${NAMESPACE_ROOT}${id}`;
/** `key` inside `namespace` (`smoke/<id>/<key>`), or `key` itself without one. */
export const inNamespace = (namespace: string | undefined, key: string): string => (namespace ? `${namespace}/${key}` : key);

/** Model families with a promoted pointer `<family>/current.json` (models bucket). */
export const MODEL_FAMILIES = ['recommender', 'topic'] as const;
/**
 * The pointer keys promote-model may write (its IAM grant, and its input check): the stage's
 * `<family>/current.json`, and recommender pointers inside a namespace (`*` = one namespace id).
 */
export const PROMOTABLE_POINTER_KEYS = [...MODEL_FAMILIES.map((f) => `${f}/current.json`), `${NAMESPACE_ROOT}*/recommender/current.json`];
const PROMOTABLE_POINTER = new RegExp(`^(?:${MODEL_FAMILIES.join('|')})/current\\.json$|^${NAMESPACE_ROOT}${NAMESPACE_ID}/recommender/current\\.json$`);
/** Whether promote-model may write this models-bucket key as a pointer. */
export const isPromotablePointerKey = (key: string): boolean => PROMOTABLE_POINTER.test(key);

export const lakeUri = (env: PlanEnvironment, key: string): string => `s3://${env.lakeBucket}/${key}`;
export const modelsUri = (env: PlanEnvironment, key: string): string => `s3://${env.modelsBucket}/${key}`;

/** A plan's step key (`etlTrain`) → its step name (`etl-train`), used in state names and result URIs. */
export const stepName = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Build the job step for plan key `key`, dropping `undefined` args so the job's own defaults apply. */
export function jobStep(
  env: PlanEnvironment,
  execution: ExecutionContext,
  job: string,
  key: string,
  args: Record<string, unknown>,
): JobStep {
  const step = stepName(key);
  const cleaned = Object.fromEntries(Object.entries(args).filter(([, v]) => v !== undefined));
  return { job, step, args: { ...cleaned, resultUri: resultUri(env, execution, step) } };
}

/**
 * Evaluation gate (recommender-training, drift-retrain; the `evaluation-gate` Lambda decides). The gate judges the
 * candidate on one objective, a metric of the evaluate job's `metrics`: error metrics (lower is better) or ranking
 * metrics at K (higher is better).
 */
export const GATE_OBJECTIVES = ['rmse', 'mae', 'ndcgAtK', 'precisionAtK', 'recallAtK', 'map', 'mapAtK'] as const;
export type GateObjective = (typeof GATE_OBJECTIVES)[number];
export type ErrorObjective = Extract<GateObjective, 'rmse' | 'mae'>;
export type RankingObjective = Exclude<GateObjective, ErrorObjective>;
export const gateObjectiveSchema = z.enum(GATE_OBJECTIVES);
export const isErrorObjective = (objective: GateObjective): objective is ErrorObjective => objective === 'rmse' || objective === 'mae';
/**
 * The ranking metric the popularity check compares (the popularity baseline has only ranking metrics): the
 * objective itself when it is a ranking metric, else `ndcgAtK`.
 */
export const popularityMetricOf = (objective: GateObjective): RankingObjective => (isErrorObjective(objective) ? 'ndcgAtK' : objective);
/** The margin when none is given, in the objective's units: 0.02 for rmse/mae, 0.01 for a ranking metric. */
export const defaultGateMargin = (objective: GateObjective): number => (isErrorObjective(objective) ? 0.02 : 0.01);
export const DEFAULT_GATE_OBJECTIVE: GateObjective = 'ndcgAtK';
export const DEFAULT_MIN_POPULARITY_LIFT = 1.1;

/** A gate's settings, every field optional (execution input `gate`, stage config `recommender.gate`). */
export const gateSettingsSchema = z
  .object({
    /** Metric the candidate is judged on. */
    objective: gateObjectiveSchema.optional(),
    /** How much worse than the current model the candidate may be on the objective, in its units (>= 0). */
    margin: z.number().min(0).optional(),
    /** The candidate must reach this multiple of the popularity baseline's ranking metric; 0 disables the check. */
    minPopularityLift: z.number().min(0).optional(),
  })
  .strict();
export type GateSettings = z.output<typeof gateSettingsSchema>;

/** The gate of a plan: every field resolved (what the "Evaluation gate" state passes to the Lambda). */
export interface GateConfig {
  readonly objective: GateObjective;
  readonly margin: number;
  readonly minPopularityLift: number;
}

/**
 * Execution input `gate` over the stage's `recommender.gate`. A margin is in its objective's units, so the stage's
 * margin applies only while the objective is the stage's; an execution choosing another objective without a margin
 * gets that objective's default ({@link defaultGateMargin}).
 */
export function resolveGate(input: GateSettings | undefined, stage: GateSettings | undefined): GateConfig {
  const stageObjective = stage?.objective ?? DEFAULT_GATE_OBJECTIVE;
  const objective = input?.objective ?? stageObjective;
  const stageMargin = objective === stageObjective ? stage?.margin : undefined;
  return {
    objective,
    margin: input?.margin ?? stageMargin ?? defaultGateMargin(objective),
    minPopularityLift: input?.minPopularityLift ?? stage?.minPopularityLift ?? DEFAULT_MIN_POPULARITY_LIFT,
  };
}

/**
 * Hyper-parameter search of the recommender pipelines' train step (stage config `recommender.tuning`, execution
 * input `tuning`): the train step searches these ALS values (Spark ML's TrainValidationSplit on
 * `validationFraction` of the training ratings — `split: 'time'`: the latest by date; jobs/recommender/tuning.py),
 * scored on `objective` with the evaluation's `k`/`threshold`, at most `maxModels` candidates (a seeded sample).
 * A ranking objective picks the ranking model over the whole grid and a rating model (RMSE) among its explicit
 * candidates; `false` turns the search off.
 */
export const tuningSchema = z
  .object({
    grid: z
      .object({
        rank: z.array(z.number().int().min(1).max(1000)).min(1).optional(),
        regParam: z.array(z.number().min(0)).min(1).optional(),
        maxIter: z.array(z.number().int().min(1).max(1000)).min(1).optional(),
        implicitPrefs: z.array(z.boolean()).min(1).optional(),
        alpha: z.array(z.number().min(0)).min(1).optional(),
      })
      .strict()
      .refine((grid) => Object.values(grid).some((v) => v !== undefined), 'must name at least one parameter to search'),
    /** @default the gate's objective */
    objective: gateObjectiveSchema.optional(),
    maxModels: z.number().int().min(1).max(1000).optional(),
    /** @default 0.2 */
    validationFraction: z.number().gt(0).lt(1).optional(),
    /** @default 'random' */
    split: z.enum(['random', 'time']).optional(),
  })
  .strict();
export type TuningSettings = z.infer<typeof tuningSchema>;
/** A search, or `false` for none. */
export const tuningChoiceSchema = z.union([z.literal(false), tuningSchema]);
export type TuningChoice = z.infer<typeof tuningChoiceSchema>;

/**
 * The default search: explicit and implicit feedback at two regularisations (4 candidates at the stage's rank and
 * iterations), the rating model chosen among the two explicit ones — about 8 ALS fits in all.
 */
export const DEFAULT_TUNING: TuningSettings = {
  grid: { regParam: [0.1, 1.0], implicitPrefs: [false, true], alpha: [20] },
  maxModels: 4,
};

/** Execution input `tuning` over the stage's: `false` turns it off; an object's fields replace the stage's (the grid as a whole). */
export function resolveTuning(input: TuningChoice | undefined, stage: TuningChoice): TuningChoice {
  if (input === undefined) return stage;
  if (input === false) return false;
  return { ...(stage || {}), ...input };
}

/** The train job's search arguments for `tuning` (none when `false`). */
export function tuningArgs(tuning: TuningChoice, objective: string, k: number, threshold: number): Record<string, unknown> {
  if (!tuning) return {};
  const { grid } = tuning;
  return {
    gridRank: grid.rank,
    gridRegParam: grid.regParam,
    gridMaxIter: grid.maxIter,
    gridImplicitPrefs: grid.implicitPrefs,
    gridAlpha: grid.alpha,
    tuneObjective: tuning.objective ?? objective,
    tuneMaxModels: tuning.maxModels,
    validationFraction: tuning.validationFraction,
    validationSplit: tuning.split,
    tuneK: k,
    tuneThreshold: threshold,
  };
}

/** Validate the Lambda's `PLAN_ENVIRONMENT`. */
export const planEnvironmentSchema = z.object({
  stage: z.string().min(1),
  lakeBucket: z.string().min(3),
  modelsBucket: z.string().min(3),
  databaseMode: z.enum(['none', 'existing', 'provisioned']),
  defaults: z.object({
    recommender: z.object({
      gate: z.object({ objective: gateObjectiveSchema, margin: z.number().min(0).optional(), minPopularityLift: z.number().min(0) }),
      tuning: tuningChoiceSchema,
      rank: z.number(),
      regParam: z.number(),
      maxIter: z.number(),
      k: z.number(),
      threshold: z.number(),
    }),
    drift: z.object({
      klThreshold: z.number(),
      meanThreshold: z.number(),
      medianThreshold: z.number(),
      weights: z.array(z.number()),
      scoreThreshold: z.number(),
      testFraction: z.number(),
      seed: z.number(),
    }),
    taxi: z.object({ sourceUrlTemplate: z.string(), publishLagMonths: z.number().int().min(0) }),
    news: z.object({ maxAttempts: z.number(), batchSize: z.number(), embeddingPrecision: z.enum(['int8', 'fp32']) }),
  }),
});

/** The plan environment for a stage config and bucket names (used by the stack and by tests). */
export function planEnvironmentFor(
  config: StageConfig,
  buckets: { readonly lakeBucket: string; readonly modelsBucket: string },
): PlanEnvironment {
  return {
    stage: config.stage,
    lakeBucket: buckets.lakeBucket,
    modelsBucket: buckets.modelsBucket,
    databaseMode: config.database.mode,
    defaults: { recommender: config.recommender, drift: config.drift, taxi: config.taxi, news: config.news },
  };
}
