import { z } from 'zod';

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
    /** Whether this schedule is created enabled. */
    enabled: z.boolean().optional(),
    /** EventBridge Scheduler expression. */
    expression: cronOrRate.optional(),
  })
  .strict();

export const DatabaseSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('none') }).strict(),
  z
    .object({
      mode: z.literal('existing'),
      /** Secrets Manager secret holding `{host, port, dbname, username, password}`. */
      secretArn: z.string().regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/, 'must be a Secrets Manager secret ARN'),
      vpcId: z.string().regex(/^vpc-[0-9a-f]+$/, 'must be a VPC id (vpc-...)'),
      subnetIds: z.array(z.string().regex(/^subnet-[0-9a-f]+$/, 'must be a subnet id (subnet-...)')).min(1),
      securityGroupId: z.string().regex(/^sg-[0-9a-f]+$/, 'must be a security group id (sg-...)'),
      /** Availability zones of the subnets, same order (needed to import the VPC without a lookup). */
      availabilityZones: z.array(z.string()).min(1),
      databaseName: z.string().default('news'),
    })
    .strict(),
  z
    .object({
      mode: z.literal('provisioned'),
      databaseName: z.string().regex(/^[a-z_][a-z0-9_]*$/).default('news'),
      minCapacityAcu: z.number().min(0).max(256).default(0),
      maxCapacityAcu: z.number().min(0.5).max(256).default(2),
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
    /** EMR release label of the Spark application. */
    releaseLabel: z.string().regex(/^emr-(spark-)?\d+\.\d+\.\d+$/, 'must be an EMR release label like emr-spark-8.0.0').default('emr-spark-8.0.0'),
    /** Python version of the dependency archive; must be one the release supports. */
    pythonVersion: z.enum(['3.9', '3.11', '3.12', '3.13']).default('3.11'),
    architecture: z.enum(['X86_64', 'ARM64']).default('X86_64'),
    maximumCapacity: z
      .object({ cpu: capacity.default('32 vCPU'), memory: capacity.default('128 GB'), disk: capacity.default('1000 GB') })
      .strict()
      .default({ cpu: '32 vCPU', memory: '128 GB', disk: '1000 GB' }),
    /** Minutes of idleness after which the application stops (billing stops). */
    idleTimeoutMinutes: z.number().int().min(1).max(10080).default(15),
    /** Per-job execution timeout (StartJobRun `executionTimeoutMinutes` and the task's TimeoutSeconds). */
    jobTimeoutMinutes: z.number().int().min(5).max(1440).default(120),
    schedules: z
      .object({
        enabled: z.boolean().default(false),
        newsEnrichment: ScheduleSchema.default({}),
        driftRetrain: ScheduleSchema.default({}),
      })
      .strict()
      .default({ enabled: false, newsEnrichment: {}, driftRetrain: {} }),
    alertEmail: z.string().email().optional(),
    /** Destroy buckets and data when the stack is deleted. Only allowed in `dev`. */
    destroyDataOnDelete: z.boolean().default(false),
    /** Days after which EMR job logs and `tmp/` objects expire. */
    logRetentionDays: z.number().int().min(1).max(3653).default(30),
    database: DatabaseSchema.default({ mode: 'none' }),
    recommender: z
      .object({
        /** Evaluation gate: promote when candidate RMSE <= current RMSE + margin. */
        rmseMargin: z.number().min(0).default(0.02),
        rank: z.number().int().min(1).max(1000).default(64),
        regParam: z.number().min(0).default(0.1),
        maxIter: z.number().int().min(1).max(1000).default(15),
        k: z.number().int().min(1).max(1000).default(10),
      })
      .strict()
      .default({ rmseMargin: 0.02, rank: 64, regParam: 0.1, maxIter: 15, k: 10 }),
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
    if (cfg.releaseLabel.startsWith('emr-spark-8') && cfg.pythonVersion === '3.9') {
      ctx.addIssue({ code: 'custom', path: ['pythonVersion'], message: 'emr-spark-8.x supports Python 3.11-3.13' });
    }
  });

export type StageConfigInput = z.input<typeof StageConfigSchema>;
export type StageConfig = z.output<typeof StageConfigSchema> & { readonly stage: string };

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
  return { ...cfg, stage };
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
