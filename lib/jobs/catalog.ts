import * as z from 'zod';

/**
 * The job catalog: every PySpark job of docs/CONTRACTS.md → its entry-point script, the zod schema of its
 * arguments (camelCase keys of the CLI flags) and its Spark sizing defaults.
 *
 * Argument objects are turned into CLI arguments by {@link toEntryPointArguments}: `resultUri` → `--result-uri`,
 * `true` → bare flag, `false`/absent → omitted, arrays → comma-joined. For `drift` the `action` argument becomes
 * the subcommand (first positional argument).
 */

/** A dataset/object location: `s3://bucket/key`, `s3a://…`, `file:///…` or an absolute local path. */
export const uriSchema = z
  .string()
  .regex(
    /^(s3a?:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/\S*)?|file:\/\/\/\S+|\/\S*)$/,
    'must be an s3://bucket/key URI, a file:/// URI or an absolute path (no spaces)',
  );

const monthSchema = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be a month YYYY-MM');
/** A list of months, given as an array or a comma-separated string. */
const monthsSchema = z.preprocess(
  (value) => (typeof value === 'string' ? value.split(',').map((m) => m.trim()) : value),
  z.array(monthSchema).min(1, 'must name at least one month'),
);
/** One or more URIs, given as an array or a comma-separated string. */
const urisSchema = z.preprocess(
  (value) => (typeof value === 'string' ? value.split(',').map((u) => u.trim()) : value),
  z.array(uriSchema).min(1, 'must name at least one URI'),
);
const positiveInt = z.number().int().min(1);
const fraction = z.number().gt(0).lt(1);
const secretArnSchema = z
  .string()
  .regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/, 'must be a Secrets Manager secret ARN');
const sourceOrSink = z.union([z.literal('postgres'), uriSchema], { message: 'must be "postgres" or a URI' });

/** Every job needs the URI its result JSON is written to; `retentionDays`: how long the tables it writes keep older versions (default 7). */
const withResult = { resultUri: uriSchema, retentionDays: positiveInt.optional() };

export const EtlArgs = z
  .object({
    ...withResult,
    input: urisSchema,
    output: uriSchema,
    rejects: uriSchema,
    shufflePartitions: positiveInt.optional(),
  })
  .strict();

export const CreateFuturesArgs = z.object({ ...withResult, input: uriSchema, output: uriSchema }).strict();

/** The ALS objectives a search (and the gate) may optimise. */
export const TUNING_OBJECTIVES = ['rmse', 'mae', 'ndcgAtK', 'precisionAtK', 'recallAtK', 'map', 'mapAtK'] as const;

/**
 * train's hyper-parameter search (jobs/recommender/tuning.py): any `grid*` list turns it on; TrainValidationSplit
 * on `validationFraction` of the training ratings, scored on `tuneObjective`.
 */
const TuningArgs = {
  gridRank: z.array(positiveInt.max(1000)).min(1).optional(),
  gridRegParam: z.array(z.number().min(0)).min(1).optional(),
  gridMaxIter: z.array(positiveInt.max(1000)).min(1).optional(),
  gridImplicitPrefs: z.array(z.boolean()).min(1).optional(),
  gridAlpha: z.array(z.number().min(0)).min(1).optional(),
  tuneObjective: z.enum(TUNING_OBJECTIVES).optional(),
  tuneMaxModels: positiveInt.max(1000).optional(),
  validationFraction: z.number().gt(0).lt(1).optional(),
  validationSplit: z.enum(['random', 'time']).optional(),
  tuneK: positiveInt.max(1000).optional(),
  tuneThreshold: z.number().optional(),
};

export const TrainArgs = z
  .object({
    ...withResult,
    train: uriSchema,
    modelRoot: uriSchema,
    rank: positiveInt.max(1000).optional(),
    regParam: z.number().min(0).optional(),
    maxIter: positiveInt.max(1000).optional(),
    implicitPrefs: z.boolean().optional(),
    nonnegative: z.boolean().optional(),
    coldStartStrategy: z.enum(['drop', 'nan']).optional(),
    seed: z.number().int().optional(),
    /** Where ALS checkpoints its factors (cuts the lineage of long runs); a `tmp/` prefix of the lake. */
    checkpointDir: uriSchema.optional(),
    checkpointInterval: positiveInt.max(1000).optional(),
    ...TuningArgs,
  })
  .strict();

export const EvaluateArgs = z
  .object({
    ...withResult,
    model: uriSchema,
    train: uriSchema,
    test: uriSchema,
    k: positiveInt.max(1000).optional(),
    threshold: z.number().optional(),
    currentPointer: uriSchema.optional(),
  })
  .strict();

export const RecommendArgs = z
  .object({ ...withResult, model: uriSchema, train: uriSchema, output: uriSchema, k: positiveInt.max(1000).optional() })
  .strict();

const DriftProcessArgs = z
  .object({
    action: z.literal('process'),
    ...withResult,
    input: uriSchema,
    staging: uriSchema,
    testFraction: fraction.optional(),
    seed: z.number().int().optional(),
    maxBatches: positiveInt.max(100000).optional(),
  })
  .strict();
const DriftDetectArgs = z
  .object({
    action: z.literal('detect'),
    ...withResult,
    baselineTest: uriSchema,
    newTest: uriSchema,
    currentPointer: uriSchema,
    klThreshold: z.number().min(0).optional(),
    meanThreshold: z.number().min(0).optional(),
    medianThreshold: z.number().min(0).optional(),
    weights: z.preprocess(
      (value) => (typeof value === 'string' ? value.split(',').map(Number) : value),
      z.array(z.number().min(0)).length(3, 'must be three weights (kl, mean, median)'),
    ).optional(),
    scoreThreshold: z.number().min(0).optional(),
  })
  .strict();
const DriftMergeArgs = z
  .object({
    action: z.literal('merge'),
    ...withResult,
    staging: uriSchema,
    /** The batch manifest of the process run (`outputs.manifest`, a run-time argument). */
    manifest: uriSchema,
    train: uriSchema,
    test: uriSchema,
  })
  .strict();
const DriftConsumeArgs = z
  .object({
    action: z.literal('consume'),
    ...withResult,
    manifest: uriSchema,
    incoming: uriSchema,
  })
  .strict();
export const DriftArgs = z.discriminatedUnion('action', [DriftProcessArgs, DriftDetectArgs, DriftMergeArgs, DriftConsumeArgs], {
  message: 'action must be one of process, detect, merge, consume',
});

export const GenerateArgs = z
  .object({
    ...withResult,
    output: uriSchema,
    movies: positiveInt.optional(),
    customers: positiveInt.optional(),
    ratings: positiveInt.optional(),
    rank: positiveInt.optional(),
    sigma: z.number().min(0).optional(),
    seed: z.number().int().optional(),
    malformedFraction: z.number().min(0).max(1).optional(),
    shift: z.number().optional(),
    popularitySkew: z.number().min(0).optional(),
    tasteClusters: z.number().int().min(0).optional(),
    selection: z.number().min(0).optional(),
    activitySigma: z.number().min(0).optional(),
  })
  .strict();

/** Precisions of the news jobs' embedding model (assets/models/README.md): int8 (the jobs' default) or fp32. */
export const EMBEDDING_PRECISIONS = ['int8', 'fp32'] as const;
export type EmbeddingPrecision = (typeof EMBEDDING_PRECISIONS)[number];
export const embeddingPrecisionSchema = z.enum(EMBEDDING_PRECISIONS, { message: 'must be "int8" or "fp32"' });

export const MlProcessingArgs = z
  .object({
    ...withResult,
    source: sourceOrSink,
    sink: sourceOrSink,
    dbSecretArn: secretArnSchema.optional(),
    dbUrlEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name').optional(),
    table: z.string().regex(/^[a-z_][a-z0-9_]*$/, 'must be a lower-case SQL identifier').optional(),
    maxAttempts: positiveInt.max(20).optional(),
    modelsDir: z.string().min(1).regex(/^\S+$/, 'must not contain spaces').optional(),
    /** `--embedding-precision`: model_int8.onnx (job default int8) or model.onnx (fp32). */
    embeddingPrecision: embeddingPrecisionSchema.optional(),
    topicPointer: uriSchema.optional(),
    batchSize: positiveInt.optional(),
  })
  .strict();

export const TrainTopicModelArgs = z
  .object({
    ...withResult,
    input: uriSchema,
    modelRoot: uriSchema,
    modelsDir: z.string().min(1).regex(/^\S+$/, 'must not contain spaces').optional(),
    /** The embedding precision the classifier is trained on (job default int8; train on the one ml_processing runs). */
    embeddingPrecision: embeddingPrecisionSchema.optional(),
  })
  .strict();

export const TaxiPreprocessArgs = z
  .object({ ...withResult, bronze: uriSchema, silver: uriSchema, rejects: uriSchema, months: monthsSchema })
  .strict();

export const TaxiFeaturesArgs = z.object({ ...withResult, silver: uriSchema, gold: uriSchema, months: monthsSchema }).strict();

/** Spark sizing of one job run (EMR Serverless worker shapes). */
export const SparkSizingSchema = z
  .object({
    driverCores: z.union([z.literal(1), z.literal(2), z.literal(4), z.literal(8), z.literal(16)], {
      message: 'must be 1, 2, 4, 8 or 16 vCPU',
    }),
    driverMemory: z.string().regex(/^([2-9]|[1-9]\d|1[01]\d|120)g$/, 'must be 2g..120g'),
    executorCores: z.union([z.literal(1), z.literal(2), z.literal(4), z.literal(8), z.literal(16)], {
      message: 'must be 1, 2, 4, 8 or 16 vCPU',
    }),
    executorMemory: z.string().regex(/^([2-9]|[1-9]\d|1[01]\d|120)g$/, 'must be 2g..120g'),
    /** Executors started with the job (dynamic allocation scales from here). */
    initialExecutors: z.number().int().min(1).max(1000),
    /** Upper bound of dynamic allocation. */
    maxExecutors: z.number().int().min(1).max(1000),
    /** Ephemeral disk per worker (EMR Serverless: 20g..200g). */
    driverDisk: z.string().regex(/^([2-9]\d|1\d\d|200)g$/, 'must be 20g..200g'),
    executorDisk: z.string().regex(/^([2-9]\d|1\d\d|200)g$/, 'must be 20g..200g'),
  })
  .strict();
export type SparkSizing = z.infer<typeof SparkSizingSchema>;

export type JobName =
  | 'etl'
  | 'create_futures'
  | 'train'
  | 'evaluate'
  | 'recommend'
  | 'drift'
  | 'generate'
  | 'ml_processing'
  | 'train_topic_model'
  | 'taxi_preprocess'
  | 'taxi_features';

export interface JobDefinition {
  /** Job name as used by the state machines and the CLI. */
  readonly name: JobName;
  /** Entry-point script file name under `jobs/` (uploaded as a plain `.py` file). */
  readonly entryPoint: string;
  /** zod schema of the job's arguments (camelCase keys of the CLI flags). */
  readonly args: z.ZodType<Record<string, unknown>>;
  /** Argument whose value is the subcommand (first positional CLI argument). */
  readonly subcommandArg?: string;
  /** Spark sizing defaults. */
  readonly sizing: SparkSizing;
  /** Extra Spark properties the job always needs. */
  readonly sparkConf?: Readonly<Record<string, string>>;
  /** The job reads model files: the models archive is shipped and `modelsDir` defaults to it. */
  readonly usesModelsArchive?: boolean;
  /** The job may read the database: `dbSecretArn` defaults to the stage's secret when a side is `postgres`. */
  readonly usesDatabase?: boolean;
  /**
   * Whether a second run of the same arguments gives the same outcome as one (docs/CONTRACTS.md "Job retries"
   * argues it per job): only such jobs get EMR Serverless' retry policy by default, which reruns a failed
   * attempt from the start.
   */
  readonly idempotent: boolean;
}

/** Attempts (`retryPolicy.maxAttempts`) an idempotent job gets unless a run overrides it. */
export const DEFAULT_IDEMPOTENT_JOB_ATTEMPTS = 2;
/** EMR Serverless' bound of `retryPolicy.maxAttempts` for batch jobs. */
export const MAX_JOB_ATTEMPTS = 10;

/** The job's default `retryPolicy.maxAttempts`: {@link DEFAULT_IDEMPOTENT_JOB_ATTEMPTS} if idempotent, else 1. */
export function defaultMaxAttempts(job: JobDefinition): number {
  return job.idempotent ? DEFAULT_IDEMPOTENT_JOB_ATTEMPTS : 1;
}

/*
 * Sizing defaults fit a new account: EMR Serverless allows 16 vCPU at once per account ("Max concurrent vCPUs per
 * account"), and a job run can grow to driver + maxExecutors × executor cores. The widest groups of concurrent runs
 * (lib/pipelines/capacity.ts, checked at synth against stage `vcpuQuota`): recommender-training's ETL, 2 × etl (medium,
 * 8) = 16, and futures ‖ train, create_futures (small, 5) + train (large, 10) = 15; news' ml_processing alone 14.
 * With a raised quota, set `vcpuQuota` and size up per run (`overrides.sizing`) or here.
 */
/** 1 + 2×2 = 5 vCPU at most. */
const small: SparkSizing = {
  driverCores: 1,
  driverMemory: '4g',
  executorCores: 2,
  executorMemory: '8g',
  initialExecutors: 1,
  maxExecutors: 2,
  driverDisk: '20g',
  executorDisk: '20g',
};
/** 2 + 3×2 = 8 vCPU at most (two run side by side in 16). */
const medium: SparkSizing = {
  driverCores: 2,
  driverMemory: '8g',
  executorCores: 2,
  executorMemory: '7g',
  initialExecutors: 2,
  maxExecutors: 3,
  driverDisk: '20g',
  executorDisk: '50g',
};
/** 2 + 2×4 = 10 vCPU at most (beside a small job in 16). */
const large: SparkSizing = {
  driverCores: 2,
  driverMemory: '12g',
  executorCores: 4,
  executorMemory: '14g',
  initialExecutors: 2,
  maxExecutors: 2,
  driverDisk: '20g',
  executorDisk: '100g',
};

const definitions: readonly JobDefinition[] = [
  { name: 'etl', entryPoint: 'etl.py', args: EtlArgs, sizing: medium, idempotent: true },
  // runs beside train (futures ‖ training): small, so both fit 16 vCPU
  { name: 'create_futures', entryPoint: 'create_futures.py', args: CreateFuturesArgs, sizing: small, idempotent: true },
  // ALS is iterative and caches factors: more memory per executor, checkpoints need disk.
  { name: 'train', entryPoint: 'train.py', args: TrainArgs, sizing: large, idempotent: true },
  { name: 'evaluate', entryPoint: 'evaluate.py', args: EvaluateArgs, sizing: large, idempotent: true },
  // a rerun writes another version of the recommendations dataset; the pointer moves last
  { name: 'recommend', entryPoint: 'recommend.py', args: RecommendArgs, sizing: large, idempotent: true },
  { name: 'drift', entryPoint: 'drift.py', args: DriftArgs, subcommandArg: 'action', sizing: small, idempotent: true },
  { name: 'generate', entryPoint: 'generate.py', args: GenerateArgs, sizing: small, idempotent: true },
  {
    name: 'ml_processing',
    entryPoint: 'ml_processing.py',
    args: MlProcessingArgs,
    // runs alone: 2 + 6×2 = 14 vCPU at most
    sizing: { ...medium, maxExecutors: 6 },
    // ONNX inference is CPU-bound in the Python worker; one Python worker per core, Arrow batches.
    sparkConf: { 'spark.sql.execution.arrow.pyspark.enabled': 'true' },
    usesModelsArchive: true,
    usesDatabase: true,
    // a rerun after a committed write-back would count an article's failed inference twice (ml_attempts)
    idempotent: false,
  },
  { name: 'train_topic_model', entryPoint: 'train_topic_model.py', args: TrainTopicModelArgs, sizing: medium, usesModelsArchive: true, idempotent: true },
  { name: 'taxi_preprocess', entryPoint: 'taxi_preprocess.py', args: TaxiPreprocessArgs, sizing: medium, idempotent: true },
  { name: 'taxi_features', entryPoint: 'taxi_features.py', args: TaxiFeaturesArgs, sizing: medium, idempotent: true },
];

/** Job name → definition. */
export const JOB_CATALOG: Readonly<Record<JobName, JobDefinition>> = Object.freeze(
  Object.fromEntries(definitions.map((d) => [d.name, d])) as Record<JobName, JobDefinition>,
);

export const JOB_NAMES = definitions.map((d) => d.name) as [JobName, ...JobName[]];

export const JobNameSchema = z.enum(JOB_NAMES, { message: `must be one of ${JOB_NAMES.join(', ')}` });

/** The definition of `name`, or a clear error naming the known jobs. */
export function getJobDefinition(name: string): JobDefinition {
  if (!Object.prototype.hasOwnProperty.call(JOB_CATALOG, name)) {
    throw new JobArgumentsError(`job: unknown job "${name}"; known jobs: ${JOB_NAMES.join(', ')}`);
  }
  return JOB_CATALOG[name as JobName];
}

export class JobArgumentsError extends Error {
  override readonly name = 'ValidationError';
}

/** Formats zod issues as `prefix.path: message; …`. */
export function formatIssues(prefix: string, error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
      return `${prefix}${path}: ${issue.message}`;
    })
    .join('; ');
}

/** Validates a job's arguments (defaults and comma-lists normalised). @throws JobArgumentsError naming the field. */
export function parseJobArgs(job: JobDefinition, args: unknown): Record<string, unknown> {
  const result = job.args.safeParse(args ?? {});
  if (!result.success) {
    throw new JobArgumentsError(`Invalid arguments for job "${job.name}": ${formatIssues('args', result.error)}`);
  }
  return result.data;
}

/** `resultUri` → `result-uri`. */
export function toFlagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * Parsed arguments → CLI arguments, in the argument object's key order (the schema's order), e.g.
 * `{action: 'detect', resultUri: 's3://…', weights: [0.5, 0.3, 0.2]}` → `['detect', '--result-uri', 's3://…',
 * '--weights', '0.5,0.3,0.2']`.
 */
export function toEntryPointArguments(job: JobDefinition, args: Record<string, unknown>): string[] {
  const out: string[] = [];
  if (job.subcommandArg) out.push(String(args[job.subcommandArg]));
  for (const [key, value] of Object.entries(args)) {
    if (key === job.subcommandArg || value === undefined || value === null || value === false) continue;
    const flag = `--${toFlagName(key)}`;
    if (value === true) out.push(flag);
    else if (Array.isArray(value)) out.push(flag, value.map(String).join(','));
    else out.push(flag, String(value));
  }
  return out;
}
