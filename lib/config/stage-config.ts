import * as z from 'zod';
import { embeddingPrecisionSchema, getJobDefinition, JobArgumentsError, JobNameSchema, parseJobArgs } from '../jobs/catalog';
import { JobRunOverridesSchema } from '../jobs/job-request-builder';
import { findRelease, pythonVersionsOf, unknownReleaseMessage } from './emr-releases';
import { RELEASE_LABEL_PATTERN } from './release-label';
import { AZ_ID_PATTERN, supportedZoneIds, unsupportedZoneReason } from './emr-serverless-zones';
import { DEFAULT_GATE_OBJECTIVE, DEFAULT_MIN_POPULARITY_LIFT, DEFAULT_TUNING, gateObjectiveSchema, tuningChoiceSchema } from '../pipelines/common';

/**
 * Typed stage configuration, read from `cdk.json` context (`stages.<name>`), one object per stage.
 * Every field has a default, so `"dev": {}` is a complete stage. An unknown stage or an invalid value
 * fails synth with a message naming the field (see {@link loadStageConfig}).
 */

const cronOrRate = z
  .string()
  .regex(/^(rate\(.+\)|cron\(.+\))$/, 'must be an EventBridge expression: rate(...) or cron(...)');

export const ScheduleSchema = z
  .object({
    /** Whether this schedule is created enabled. @default the stage's `schedules.enabled` */
    enabled: z.boolean().optional(),
    /** EventBridge Scheduler expression. @default per pipeline (news hourly, drift daily) */
    expression: cronOrRate.optional(),
    /** Execution input passed to the state machine. @default {} */
    input: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

/**
 * Placeholders a scheduled job's `args` may use for bucket names CloudFormation generates; replaced at synth
 * (`s3://{lakeBucket}/bronze/netflix/stream/incoming/`).
 */
export const JOB_ARG_PLACEHOLDERS = ['lakeBucket', 'modelsBucket'] as const;

/** Replaces `{lakeBucket}`/`{modelsBucket}` in every string of `value` (deeply). */
export function substituteJobArgPlaceholders(value: unknown, buckets: Record<(typeof JOB_ARG_PLACEHOLDERS)[number], string>): unknown {
  if (typeof value === 'string') return value.replace(/\{(lakeBucket|modelsBucket)\}/g, (_m, name: keyof typeof buckets) => buckets[name]);
  if (Array.isArray(value)) return value.map((v) => substituteJobArgPlaceholders(v, buckets));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteJobArgPlaceholders(v, buckets)]));
  }
  return value;
}

/**
 * A standalone job run on a schedule (EventBridge Scheduler → the `start-job-run` Lambda → StartJobRun), e.g.
 * `"nightly-etl": {"job": "etl", "expression": "cron(0 2 * * ? *)", "args": {"input": "s3://{lakeBucket}/…", …}}`.
 * The job arguments are checked against the job catalog at synth; `resultUri` defaults to
 * `s3://<lake>/runs/standalone/<schedule>-<time>/<step>.json`.
 */
export const JobScheduleSchema = z
  .object({
    /** Job of the catalog (`etl`, `train`, `drift`, …). */
    job: JobNameSchema,
    /** Step id (ClientToken, job-run name, result file). @default the schedule's key */
    step: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be kebab-case (a-z, 0-9, -)').optional(),
    expression: cronOrRate,
    /** Created enabled when true. @default the stage's `schedules.enabled` */
    enabled: z.boolean().optional(),
    /** Job arguments (camelCase of the CLI flags), `{lakeBucket}`/`{modelsBucket}` placeholders allowed. */
    args: z.record(z.string(), z.unknown()).default({}),
    /**
     * Per-run overrides (sizing, sparkConf, executionTimeoutMinutes, tags), checked at synth with the schema
     * build-job-request and start-job-run use. @default none
     */
    overrides: JobRunOverridesSchema.optional(),
  })
  .strict()
  .superRefine((schedule, ctx) => {
    const args = substituteJobArgPlaceholders(schedule.args, { lakeBucket: 'lake-bucket', modelsBucket: 'models-bucket' }) as Record<string, unknown>;
    try {
      parseJobArgs(getJobDefinition(schedule.job), { resultUri: 's3://lake-bucket/runs/standalone/x/y.json', ...args });
    } catch (error) {
      if (!(error instanceof JobArgumentsError)) throw error;
      ctx.addIssue({ code: 'custom', path: ['args'], message: error.message });
    }
  });
export type JobSchedule = z.output<typeof JobScheduleSchema>;

/** Retention values CloudWatch Logs accepts (days). */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

/** `arn:<partition>:<service>:<region>:…` → the region. */
const arnRegion = (arn: string) => arn.split(':')[3];

export const DatabaseSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('none') }).strict(),
  z
    .object({
      mode: z.literal('existing'),
      /** Secrets Manager secret holding `{host, port, dbname, username, password}`. */
      secretArn: z.string().regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/, 'must be a Secrets Manager secret ARN'),
      /**
       * The customer-managed KMS key the secret is encrypted with (key ARN, same region as the secret): the job role
       * and `check-articles` may `kms:Decrypt` with it, only through Secrets Manager.
       * @default - the secret uses the AWS managed key `aws/secretsmanager` (no key permission needed)
       */
      secretKmsKeyArn: z
        .string()
        .regex(/^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/, 'must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key id>; not an alias)')
        .optional(),
      vpcId: z.string().regex(/^vpc-[0-9a-f]+$/, 'must be a VPC id (vpc-...)'),
      subnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]+$/, 'must be a subnet id (subnet-...)')).min(1),
      securityGroupId: z.string().regex(/^sg-[0-9a-f]+$/, 'must be a security group id (sg-...)'),
      /** Availability zones of the subnets, same order (needed to import the VPC without a lookup). */
      availabilityZones: z.array(z.string()).min(1),
      /**
       * AZ IDs of the subnets, same order (`aws ec2 describe-subnets --query 'Subnets[].AvailabilityZoneId'`):
       * checked against the zones EMR Serverless runs in (lib/config/emr-serverless-zones.json).
       * @default - not checked (the subnets' zones are the owner's concern)
       */
      availabilityZoneIds: z.array(z.string().regex(AZ_ID_PATTERN, 'must be an AZ ID like use1-az4')).min(1).optional(),
      databaseName: z.string().default('news'),
    })
    .strict()
    .superRefine((db, ctx) => {
      // Secrets Manager encrypts a secret only with a key in the secret's own region.
      if (db.secretKmsKeyArn && arnRegion(db.secretKmsKeyArn) !== arnRegion(db.secretArn)) {
        ctx.addIssue({
          code: 'custom',
          path: ['secretKmsKeyArn'],
          message: `must be in the secret's region ${arnRegion(db.secretArn)} (the key is in ${arnRegion(db.secretKmsKeyArn)})`,
        });
      }
    }),
  z
    .object({
      mode: z.literal('provisioned'),
      databaseName: z.string().regex(/^[a-z_][a-z0-9_]*$/).default('news'),
      minCapacityAcu: z.number().min(0).max(256).default(0),
      maxCapacityAcu: z.number().min(0.5).max(256).default(2),
      /**
       * The two zones (AZ IDs) of the VPC's subnets. Required in a region where EMR Serverless runs in only some
       * zones (lib/config/emr-serverless-zones.json: us-east-1, us-east-2, us-west-1, us-west-2, ca-central-1),
       * since the zones CloudFormation would pick by name (`Fn::GetAZs`) differ per account.
       * @default - the region's first two zones
       */
      availabilityZoneIds: z.array(z.string().regex(AZ_ID_PATTERN, 'must be an AZ ID like use1-az4')).length(2, 'must be two AZ IDs (one subnet each)').optional(),
    })
    .strict(),
]);

const capacity = z.string().regex(/^\d+ ?(vCPU|GB)$/, 'must look like "100 vCPU" or "400 GB"');

export const StageConfigSchema = z
  .object({
    /** AWS account; omitted = environment-agnostic synth. */
    account: z.string().regex(/^\d{12}$/, 'must be a 12-digit account id').optional(),
    /** AWS region; omitted = environment-agnostic synth. */
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be a region like eu-west-1').optional(),
    /** EMR release label of the Spark application; one of the release catalogue (lib/config/emr-releases.json). */
    releaseLabel: z.string().regex(RELEASE_LABEL_PATTERN, 'must be an EMR release label like emr-spark-8.0.0').default('emr-spark-8.0.0'),
    /**
     * Python version the dependency archive is built for and runs with; one the release's image offers.
     * @default the release's default Python (release catalogue)
     */
    pythonVersion: z.string().regex(/^3\.\d+$/, 'must be a Python version like 3.11').optional(),
    architecture: z.enum(['X86_64', 'ARM64']).default('X86_64'),
    maximumCapacity: z
      .object({ cpu: capacity.default('32 vCPU'), memory: capacity.default('128 GB'), disk: capacity.default('1000 GB') })
      .strict()
      .default({ cpu: '32 vCPU', memory: '128 GB', disk: '1000 GB' }),
    /**
     * The account's EMR Serverless quota "Max concurrent vCPUs per account" (Service Quotas; 16 on a new account).
     * Synth fails when a group of job runs a pipeline runs at the same time could need more at its widest (driver +
     * maxExecutors × executor cores each; lib/pipelines/capacity.ts). Raise it after the quota was raised.
     * @default 16
     */
    vcpuQuota: z.number().int().positive().default(16),
    /** Minutes of idleness after which the application stops (billing stops). */
    idleTimeoutMinutes: z.number().int().min(1).max(10080).default(15),
    /** Per-job execution timeout (StartJobRun `executionTimeoutMinutes` and the task's TimeoutSeconds). */
    jobTimeoutMinutes: z.number().int().min(5).max(1440).default(120),
    schedules: z
      .object({
        enabled: z.boolean().default(false),
        newsEnrichment: ScheduleSchema.default({}),
        driftRetrain: ScheduleSchema.default({}),
        /** Standalone job runs on a schedule, by schedule key (`[a-z0-9-]`, part of the schedule name). */
        jobs: z.record(z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'schedule keys must be kebab-case, at most 40 characters'), JobScheduleSchema).default({}),
      })
      .strict()
      .default({ enabled: false, newsEnrichment: {}, driftRetrain: {}, jobs: {} }),
    /** Lambda CPU architecture of the pipeline handlers. */
    lambdaArchitecture: z.enum(['X86_64', 'ARM64']).default('ARM64'),
    alertEmail: z.string().email().optional(),
    /** Destroy buckets and data when the stack is deleted. Only allowed in `dev`. */
    destroyDataOnDelete: z.boolean().default(false),
    /** Days after which EMR job logs and `tmp/` objects expire. */
    logRetentionDays: z
      .number()
      .int()
      .refine((d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d), `must be one of ${LOG_RETENTION_DAYS.join(', ')}`)
      .default(30),
    /** EMR Serverless scheduler: concurrent job runs before runs queue, and how long they may queue. */
    spark: z
      .object({
        maxConcurrentRuns: z.number().int().min(1).max(1000).default(5),
        queueTimeoutMinutes: z.number().int().min(15).max(720).default(60),
      })
      .strict()
      .default({ maxConcurrentRuns: 5, queueTimeoutMinutes: 60 }),
    database: DatabaseSchema.default({ mode: 'none' }),
    recommender: z
      .object({
        /**
         * Evaluation gate (recommender-training, drift-retrain): promote when the candidate is no worse than the
         * current model on `objective` by more than `margin` and reaches `minPopularityLift` × the popularity
         * baseline's ranking metric (the objective, or ndcgAtK for rmse/mae; 0 disables that check). An execution
         * input `gate` overrides field by field.
         */
        gate: z
          .object({
            objective: gateObjectiveSchema.default(DEFAULT_GATE_OBJECTIVE),
            /** In the objective's units. @default 0.01 for a ranking objective, 0.02 for rmse/mae */
            margin: z.number().min(0).optional(),
            minPopularityLift: z.number().min(0).default(DEFAULT_MIN_POPULARITY_LIFT),
          })
          .strict()
          .default({ objective: DEFAULT_GATE_OBJECTIVE, minPopularityLift: DEFAULT_MIN_POPULARITY_LIFT }),
        /** The train step's hyper-parameter search (`false`: none); an execution input `tuning` overrides it. @default DEFAULT_TUNING */
        tuning: tuningChoiceSchema.default(DEFAULT_TUNING),
        rank: z.number().int().min(1).max(1000).default(64),
        regParam: z.number().min(0).default(0.1),
        maxIter: z.number().int().min(1).max(1000).default(15),
        k: z.number().int().min(1).max(1000).default(10),
        /** Rating at or above which an item counts as relevant for Precision/Recall/NDCG@K. */
        threshold: z.number().min(1).max(5).default(4.0),
      })
      .strict()
      .default({ gate: { objective: DEFAULT_GATE_OBJECTIVE, minPopularityLift: DEFAULT_MIN_POPULARITY_LIFT }, tuning: DEFAULT_TUNING, rank: 64, regParam: 0.1, maxIter: 15, k: 10, threshold: 4.0 }),
    /** Drift detection defaults (the job's weighted score; retrain when score > scoreThreshold). */
    drift: z
      .object({
        klThreshold: z.number().positive().default(0.1),
        meanThreshold: z.number().positive().default(0.2),
        medianThreshold: z.number().positive().default(0.5),
        weights: z.array(z.number().min(0)).length(3).default([0.5, 0.3, 0.2]),
        scoreThreshold: z.number().positive().default(1.0),
        testFraction: z.number().gt(0).lt(1).default(0.2),
        seed: z.number().int().default(42),
      })
      .strict()
      .default({ klThreshold: 0.1, meanThreshold: 0.2, medianThreshold: 0.5, weights: [0.5, 0.3, 0.2], scoreThreshold: 1.0, testFraction: 0.2, seed: 42 }),
    /** NYC taxi ingestion source; `{month}` becomes YYYY-MM. */
    taxi: z
      .object({
        sourceUrlTemplate: z
          .string()
          .regex(/^https:\/\/.+\{month\}.*$/, 'must be an https URL containing {month}')
          .default('https://d37ci6vzurychx.cloudfront.net/trip-data/yellow_tripdata_{month}.parquet'),
        /**
         * How many months the source publishes behind the calendar: with no `months` input, taxi-medallion takes
         * the start's UTC month minus this (TLC posts a month's trip file about two months later; 0 = the start's
         * own month).
         */
        publishLagMonths: z
          .number({ error: 'must be a whole number of months from 0 to 24' })
          .int('must be a whole number of months from 0 to 24')
          .min(0, 'must be a whole number of months from 0 to 24')
          .max(24, 'must be a whole number of months from 0 to 24')
          .default(2),
      })
      .strict()
      .default({ sourceUrlTemplate: 'https://d37ci6vzurychx.cloudfront.net/trip-data/yellow_tripdata_{month}.parquet', publishLagMonths: 2 }),
    /** News enrichment job defaults. */
    news: z
      .object({
        maxAttempts: z.number().int().min(1).max(10).default(3),
        batchSize: z.number().int().min(1).max(100000).default(1000),
        /** Embedding model precision of ml_processing (assets/models/README.md): int8 (~1.8–2× faster inference) or fp32. */
        embeddingPrecision: embeddingPrecisionSchema.default('int8'),
      })
      .strict()
      .default({ maxAttempts: 3, batchSize: 1000, embeddingPrecision: 'int8' }),
    /** CI/CD pipeline (issue: CI/CD deploys). */
    pipeline: z
      .object({
        enabled: z.boolean().default(false),
        connectionArn: z.string().optional(),
        repository: z.string().optional(),
        branch: z.string().default('main'),
      })
      .strict()
      .default({ enabled: false, branch: 'main' }),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    // R8: the database network's subnets must be in zones EMR Serverless runs in.
    const db = cfg.database;
    if (db.mode === 'existing' || db.mode === 'provisioned') {
      (db.availabilityZoneIds ?? []).forEach((zoneId, i) => {
        const reason = unsupportedZoneReason(zoneId, cfg.region);
        if (reason) ctx.addIssue({ code: 'custom', path: ['database', 'availabilityZoneIds', i], message: reason });
      });
      if (db.mode === 'existing' && db.availabilityZoneIds && db.availabilityZoneIds.length !== db.subnetIds.length) {
        ctx.addIssue({ code: 'custom', path: ['database', 'availabilityZoneIds'], message: `must name one AZ ID per subnet (${db.subnetIds.length} subnetIds)` });
      }
      const restricted = cfg.region ? supportedZoneIds(cfg.region) : undefined;
      if (db.mode === 'provisioned' && restricted && !db.availabilityZoneIds) {
        ctx.addIssue({
          code: 'custom',
          path: ['database', 'availabilityZoneIds'],
          message: `required in ${cfg.region}: EMR Serverless runs there only in ${restricted.join(', ')}; name two of them (the zones picked by name differ per account)`,
        });
      }
    }
    // The release catalogue decides which releases, Python versions and architectures a stage may use.
    if (!RELEASE_LABEL_PATTERN.test(cfg.releaseLabel)) return; // already reported as malformed
    const release = findRelease(cfg.releaseLabel);
    if (!release) {
      ctx.addIssue({ code: 'custom', path: ['releaseLabel'], message: unknownReleaseMessage(cfg.releaseLabel) });
      return;
    }
    if (cfg.pythonVersion !== undefined && /^3\.\d+$/.test(cfg.pythonVersion) && !(cfg.pythonVersion in release.python.interpreters)) {
      ctx.addIssue({
        code: 'custom',
        path: ['pythonVersion'],
        message: `${cfg.releaseLabel} offers Python ${pythonVersionsOf(release).join(', ')} (release catalogue), not ${cfg.pythonVersion}`,
      });
    }
    if (!release.architectures.includes(cfg.architecture)) {
      ctx.addIssue({ code: 'custom', path: ['architecture'], message: `${cfg.releaseLabel} runs on ${release.architectures.join(', ')}, not ${cfg.architecture}` });
    }
  });

export type StageConfigInput = z.input<typeof StageConfigSchema>;
export type StageConfig = z.output<typeof StageConfigSchema> & { readonly stage: string; readonly pythonVersion: string };

export class StageConfigError extends Error {}

/**
 * Validate one stage's raw config. `stage` is only used for the stage-dependent rules and messages.
 * @throws StageConfigError naming every invalid field as `stages.<stage>.<path>`.
 */
export function parseStageConfig(stage: string, raw: unknown): StageConfig {
  const result = StageConfigSchema.safeParse(raw ?? {});
  if (!result.success) {
    const details = result.error.issues
      .map((issue) => `stages.${stage}${issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${issue.message}`)
      .join('; ');
    throw new StageConfigError(`Invalid configuration for stage "${stage}": ${details}`);
  }
  const cfg = result.data;
  if (cfg.destroyDataOnDelete && stage !== 'dev') {
    throw new StageConfigError(`Invalid configuration for stage "${stage}": stages.${stage}.destroyDataOnDelete: only allowed in stage "dev"`);
  }
  return { ...cfg, pythonVersion: cfg.pythonVersion ?? findRelease(cfg.releaseLabel)!.python.default, stage };
}

/**
 * Resolve the stage named by context `stage` (default `dev`) from context `stages`.
 * `dev` defaults `destroyDataOnDelete` to true unless set.
 */
export function loadStageConfig(tryGetContext: (key: string) => unknown): StageConfig {
  const stage = String(tryGetContext('stage') ?? 'dev');
  const stages = (tryGetContext('stages') ?? {}) as Record<string, unknown>;
  if (!/^[a-z][a-z0-9-]{0,19}$/.test(stage)) {
    throw new StageConfigError(`Invalid stage name "${stage}": use lower-case letters, digits and dashes (max 20)`);
  }
  if (!Object.prototype.hasOwnProperty.call(stages, stage)) {
    throw new StageConfigError(`Unknown stage "${stage}": cdk.json context "stages" defines ${Object.keys(stages).join(', ') || 'no stages'}`);
  }
  const raw = (stages[stage] ?? {}) as Record<string, unknown>;
  const withStageDefaults = stage === 'dev' && raw.destroyDataOnDelete === undefined ? { ...raw, destroyDataOnDelete: true } : raw;
  return parseStageConfig(stage, withStageDefaults);
}
