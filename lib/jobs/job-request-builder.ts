import { createHash } from 'node:crypto';
import * as z from 'zod';
import {
  defaultMaxAttempts,
  formatIssues,
  getJobDefinition,
  JobArgumentsError,
  MAX_JOB_ATTEMPTS,
  parseJobArgs,
  SparkSizing,
  SparkSizingSchema,
  toEntryPointArguments,
} from './catalog';
import { DELTA_JARS, DELTA_SPARK_CONF } from '../config/emr-releases';
import { Artifact, BUILT_FOR_ENV, findArtifact, Manifest } from './manifest';

/**
 * The one job-request builder: (job, step, args, overrides, manifest, stage environment) → the EMR Serverless
 * StartJobRun request in the PascalCase shape the Step Functions `.sync` integration takes (docs/CONTRACTS.md).
 * Pure: no I/O, no clock, no randomness — the same input always gives the same request, so a retried step
 * sends the same `ClientToken` and EMR Serverless returns the job run it already started.
 *
 * Callers: `lambda/build-job-request` (state machines), `lambda/start-job-run` (schedules), the CLI and the
 * local runner (which uses {@link describeJobRun} to get the same request as clean spark-submit parts).
 */

/** Stage-level settings, from the Lambda environment (see CONTRACTS.md) or the CLI/local runner. */
export const JobRunEnvironmentSchema = z
  .object({
    stage: z.string().regex(/^[a-z][a-z0-9-]{0,19}$/, 'must be a stage name'),
    applicationId: z.string().regex(/^[0-9a-z]{1,64}$/, 'must be an EMR Serverless application id'),
    jobRoleArn: z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/, 'must be an IAM role ARN'),
    artifactsBucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name'),
    logsBucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name'),
    lakeBucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name'),
    modelsBucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name'),
    jobTimeoutMinutes: z.number().int().min(5).max(1440).default(120),
    dbSecretArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/, 'must be a Secrets Manager secret ARN')
      .optional(),
  })
  .strict();
export type JobRunEnvironment = z.output<typeof JobRunEnvironmentSchema>;
export type JobRunEnvironmentInput = z.input<typeof JobRunEnvironmentSchema>;

/** Properties the builder owns; an override may not replace them. */
const PROTECTED_CONF = [
  'spark.archives',
  'spark.submit.pyFiles',
  'spark.jars',
  'spark.files',
  'spark.emr-serverless.driverEnv.PYSPARK_PYTHON',
  'spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON',
  'spark.executorEnv.PYSPARK_PYTHON',
  'spark.pyspark.python',
  'spark.pyspark.driver.python',
  // what the artifacts were built for: the job entry checks its interpreter and Spark against these
  ...Object.values(BUILT_FOR_ENV).map((name) => `spark.emr-serverless.driverEnv.${name}`),
  // the lake's table format
  ...Object.keys(DELTA_SPARK_CONF),
];
const SECRET_LIKE = /(password|passwd|secret|token|credential|access[._-]?key|private[._-]?key)/i;

const confKey = z
  .string()
  .regex(/^spark\.[A-Za-z0-9._-]+$/, 'Spark property names start with "spark." and contain no spaces')
  .refine((k) => !PROTECTED_CONF.includes(k), { message: 'is set by the builder from the artifact manifest and cannot be overridden' })
  .refine((k) => !SECRET_LIKE.test(k), { message: 'looks like a secret; pass secrets through Secrets Manager, never as Spark properties' });
const confValue = z.string().min(1).regex(/^\S+$/, 'must not contain whitespace (SparkSubmitParameters is space-separated)');

/**
 * Job-run tags as EMR Serverless accepts them (API reference, StartJobRun `tags` / `TagKey` / `TagValue`: keys
 * 1-128 and values 0-256 characters of `[A-Za-z0-9 /_.:=+@-]` — ASCII, not the Unicode classes other services
 * allow), at most 50 user tags per resource, keys never with the `aws:` prefix AWS reserves for its own use (User
 * Guide, "Tagging limitations"). Checked before StartJobRun, so a bad tag fails naming the field instead of a
 * ValidationException from the service.
 */
const TAG_CHARACTER = 'A-Za-z0-9 /_.:=+@-';
export const TAG_CHARACTERS = new RegExp(`^[${TAG_CHARACTER}]*$`);
export const MAX_TAG_KEY_LENGTH = 128;
export const MAX_TAG_VALUE_LENGTH = 256;
export const MAX_JOB_RUN_TAGS = 50;
const RESERVED_TAG_PREFIX = /^aws:/i;
const TAG_CHARACTERS_TEXT = 'ASCII letters, digits, space and _ . : / = + - @';
const tagKey = z
  .string()
  .min(1, 'must be a tag key (not empty)')
  .max(MAX_TAG_KEY_LENGTH, `must be a tag key of at most ${MAX_TAG_KEY_LENGTH} characters`)
  .regex(TAG_CHARACTERS, `must be a tag key of ${TAG_CHARACTERS_TEXT} only`)
  .refine((k) => !RESERVED_TAG_PREFIX.test(k), { message: 'must not start with "aws:" (reserved for AWS use)' });
const tagValue = z
  .string()
  .max(MAX_TAG_VALUE_LENGTH, `must be a tag value of at most ${MAX_TAG_VALUE_LENGTH} characters`)
  .regex(TAG_CHARACTERS, `must be a tag value of ${TAG_CHARACTERS_TEXT} only`);

/** A string as a tag value: characters EMR Serverless refuses become `_`, cut to the value length. */
function toTagValue(value: string): string {
  return value.replace(new RegExp(`[^${TAG_CHARACTER}]`, 'g'), '_').slice(0, MAX_TAG_VALUE_LENGTH);
}

/**
 * The tag keys every request carries (`overrides.tags` may add more). StartJobRun with tags also authorizes
 * `emr-serverless:TagResource` on the new job run (Service Authorization Reference), which the principals that
 * start runs are granted only for these keys (`aws:TagKeys`; `SparkApplication.grantStartJobRun`).
 */
export const JOB_RUN_TAG_KEYS = ['project', 'stage', 'job', 'step', 'stateMachine', 'execution', 'depsSha256'] as const;
export type JobRunTagKey = (typeof JOB_RUN_TAG_KEYS)[number];

/** A string record whose key errors are reported under the key itself (zod's record nests them). */
function recordWithKeys(key: z.ZodType<string>, value: z.ZodType<string>) {
  return z.record(z.string(), value).superRefine((record, ctx) => {
    for (const k of Object.keys(record)) {
      const result = key.safeParse(k);
      if (!result.success) {
        for (const issue of result.error.issues) ctx.addIssue({ code: 'custom', path: [k], message: issue.message });
      }
    }
  });
}

/** Per-execution overrides (execution input / schedule / CLI). */
export const JobRunOverridesSchema = z
  .object({
    sizing: SparkSizingSchema.partial().strict().optional(),
    sparkConf: recordWithKeys(confKey, confValue).optional(),
    executionTimeoutMinutes: z.number().int().min(5).max(1440).optional(),
    /**
     * EMR Serverless `retryPolicy.maxAttempts` (batch; 1 = no retry). A failed attempt is rerun from the start, so
     * more than 1 only for jobs the catalog marks idempotent. @default 2 for idempotent jobs, else 1
     */
    maxAttempts: z.number().int().min(1).max(MAX_JOB_ATTEMPTS).optional(),
    /** Extra job-run tags; with the builder's own ({@link JOB_RUN_TAG_KEYS}) at most {@link MAX_JOB_RUN_TAGS}. */
    tags: recordWithKeys(tagKey, tagValue)
      .superRefine((tags, ctx) => {
        const count = new Set<string>([...JOB_RUN_TAG_KEYS, ...Object.keys(tags)]).size;
        if (count > MAX_JOB_RUN_TAGS) {
          ctx.addIssue({
            code: 'custom',
            message: `${count} tags with the ${JOB_RUN_TAG_KEYS.length} the builder sets (${JOB_RUN_TAG_KEYS.join(', ')}); EMR Serverless allows at most ${MAX_JOB_RUN_TAGS} per job run`,
          });
        }
      })
      .optional(),
  })
  .strict();
export type JobRunOverrides = z.infer<typeof JobRunOverridesSchema>;

export const ExecutionRefSchema = z
  .object({
    /** `$$.Execution.Id` (execution ARN) or, for scheduled runs, the EventBridge event id. */
    id: z.string().min(1).max(2048),
    /** `$$.Execution.Name` (Step Functions: 1-80 characters, no whitespace, no `/`). */
    name: z.string().regex(/^[^\s/\\"#%^|~`$&,;*?<>{}[\]]{1,80}$/u, 'must be an execution name (1-80 characters, no whitespace or special characters)'),
    /** `$$.StateMachine.Name`; absent for standalone runs. */
    stateMachine: z.string().regex(/^[A-Za-z0-9_-]{1,80}$/, 'must be a state machine name').optional(),
    /** `$$.Execution.StartTime` (informational). */
    startTime: z.string().optional(),
  })
  .strict();
export type ExecutionRef = z.infer<typeof ExecutionRefSchema>;

export const StepSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,79}$/, 'must be a step id: lower-case letters, digits, _ and - (≤80)');

export interface BuildJobRequestInput {
  readonly job: string;
  readonly step: string;
  readonly args?: unknown;
  readonly overrides?: unknown;
  readonly execution: ExecutionRef;
  readonly manifest: Manifest;
  readonly env: JobRunEnvironmentInput;
}

/** StartJobRun request, PascalCase as in the Step Functions optimized integration. */
export interface StartJobRunRequest {
  ApplicationId: string;
  ExecutionRoleArn: string;
  Name: string;
  ClientToken: string;
  ExecutionTimeoutMinutes: number;
  /** Batch jobs only; the retry policy applies to BATCH mode. */
  Mode: 'BATCH';
  /** EMR Serverless reruns a failed attempt from the start, up to `MaxAttempts` attempts in all. */
  RetryPolicy: { MaxAttempts: number };
  JobDriver: { SparkSubmit: { EntryPoint: string; EntryPointArguments: string[]; SparkSubmitParameters: string } };
  ConfigurationOverrides: { MonitoringConfiguration: { S3MonitoringConfiguration: { LogUri: string } } };
  Tags: Record<string, string>;
}

/** The request's spark-submit parts, for turning it into a local `spark-submit` command line. */
export interface SparkSubmitSpec {
  entryPoint: string;
  arguments: string[];
  /** `uri#alias` entries of `spark.archives`. */
  archives: string[];
  pyFiles: string[];
  jars: string[];
  files: string[];
  /** Spark properties, in the order they are passed. */
  conf: Array<[string, string]>;
}

export interface JobRunDescription {
  readonly request: StartJobRunRequest;
  readonly sparkSubmit: SparkSubmitSpec;
  /** The validated arguments (defaults applied), e.g. the `resultUri` the job writes. */
  readonly args: Record<string, unknown>;
  readonly sizing: SparkSizing;
}

export class JobRequestError extends Error {
  override readonly name = 'ValidationError';
}

export const PROJECT_TAG = 'emr-ml-pipelines';

/** Builds the StartJobRun request. @throws ValidationError (JobArgumentsError/JobRequestError) naming the field. */
export function buildJobRequest(input: BuildJobRequestInput): StartJobRunRequest {
  return describeJobRun(input).request;
}

/** Builds the request and returns its spark-submit parts alongside. */
export function describeJobRun(input: BuildJobRequestInput): JobRunDescription {
  const env = parseOrThrow(JobRunEnvironmentSchema, input.env, 'env');
  const step = parseOrThrow(StepSchema, input.step, 'step');
  const execution = parseOrThrow(ExecutionRefSchema, input.execution, 'execution');
  const overrides = parseOrThrow(JobRunOverridesSchema, input.overrides ?? {}, 'overrides');
  const job = getJobDefinition(input.job);
  const manifest = input.manifest;

  const rawArgs = { ...((input.args ?? {}) as Record<string, unknown>) };
  if (rawArgs.resultUri === undefined) rawArgs.resultUri = defaultResultUri(env, execution, step);
  const models = job.usesModelsArchive ? findArtifact(manifest, 'models') : undefined;
  if (models && rawArgs.modelsDir === undefined) rawArgs.modelsDir = `./${models.archiveAlias ?? 'models'}`;
  const args = parseJobArgs(job, rawArgs);
  if (job.usesDatabase) applyDatabaseDefaults(args, env);

  const maxAttempts = overrides.maxAttempts ?? defaultMaxAttempts(job);
  if (maxAttempts > 1 && !job.idempotent) {
    throw new JobRequestError(
      `overrides.maxAttempts: job "${job.name}" is not idempotent (docs/CONTRACTS.md "Job retries"), so EMR Serverless must not rerun it; use 1`,
    );
  }
  const sizing = { ...job.sizing, ...overrides.sizing };
  if (sizing.initialExecutors > sizing.maxExecutors) {
    throw new JobRequestError(
      `overrides.sizing.initialExecutors: ${sizing.initialExecutors} exceeds maxExecutors ${sizing.maxExecutors}`,
    );
  }

  const uri = (a: Artifact) => `s3://${env.artifactsBucket}/${a.key}`;
  const entry = findArtifact(manifest, 'entry-point', job.entryPoint);
  if (!entry) throw new JobRequestError(`manifest: no entry-point artifact ${job.entryPoint} for job "${job.name}" (re-run npm run package)`);
  const deps = findArtifact(manifest, 'python-deps');
  const pyfiles = findArtifact(manifest, 'pyfiles');
  if (!deps || !pyfiles) throw new JobRequestError('manifest: python-deps and pyfiles artifacts are required');
  const jar = findArtifact(manifest, 'uber-jar');

  const archives = [`${uri(deps)}#${deps.archiveAlias ?? 'environment'}`];
  if (models) archives.push(`${uri(models)}#${models.archiveAlias ?? 'models'}`);

  // the lake's tables are Delta Lake: the image's jars and Delta's session extension and catalog
  const conf: Array<[string, string]> = [
    ['spark.driver.cores', String(sizing.driverCores)],
    ['spark.driver.memory', sizing.driverMemory],
    ['spark.executor.cores', String(sizing.executorCores)],
    ['spark.executor.memory', sizing.executorMemory],
    ['spark.executor.instances', String(sizing.initialExecutors)],
    ['spark.dynamicAllocation.maxExecutors', String(sizing.maxExecutors)],
    ['spark.emr-serverless.driver.disk', sizing.driverDisk],
    ['spark.emr-serverless.executor.disk', sizing.executorDisk],
    ...Object.entries(DELTA_SPARK_CONF),
    ...Object.entries(manifest.sparkConf).sort(([a], [b]) => a.localeCompare(b)),
    ...Object.entries(job.sparkConf ?? {}).sort(([a], [b]) => a.localeCompare(b)),
  ];
  for (const [key, value] of Object.entries(overrides.sparkConf ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    const existing = conf.findIndex(([k]) => k === key);
    if (existing >= 0) conf[existing] = [key, value];
    else conf.push([key, value]);
  }

  const sparkSubmit: SparkSubmitSpec = {
    entryPoint: uri(entry),
    arguments: toEntryPointArguments(job, args),
    archives,
    pyFiles: [uri(pyfiles)],
    jars: [...DELTA_JARS, ...(jar ? [uri(jar)] : [])],
    files: [],
    conf,
  };

  const stateMachine = execution.stateMachine ?? 'standalone';
  const builtIn: Record<JobRunTagKey, string> = {
    project: PROJECT_TAG,
    stage: env.stage,
    job: job.name,
    step,
    stateMachine,
    // Step Functions execution names may hold Unicode letters; EMR Serverless tag values are ASCII.
    execution: toTagValue(execution.name),
    depsSha256: deps.sha256.slice(0, 16),
  };
  const tags: Record<string, string> = { ...builtIn, ...overrides.tags };

  const request: StartJobRunRequest = {
    ApplicationId: env.applicationId,
    ExecutionRoleArn: env.jobRoleArn,
    Name: jobRunName(stateMachine, execution.name, step),
    ClientToken: clientToken(execution.id, step),
    ExecutionTimeoutMinutes: overrides.executionTimeoutMinutes ?? env.jobTimeoutMinutes,
    Mode: 'BATCH',
    RetryPolicy: { MaxAttempts: maxAttempts },
    JobDriver: {
      SparkSubmit: {
        EntryPoint: sparkSubmit.entryPoint,
        EntryPointArguments: sparkSubmit.arguments,
        SparkSubmitParameters: renderSparkSubmitParameters(sparkSubmit),
      },
    },
    ConfigurationOverrides: {
      MonitoringConfiguration: { S3MonitoringConfiguration: { LogUri: `s3://${env.logsBucket}/emr/` } },
    },
    Tags: tags,
  };
  return { request, sparkSubmit, args, sizing };
}

/**
 * Idempotency token: the same execution + step always yields the same token (a retried step gets back the job run
 * it already started); ≤ {@link CLIENT_TOKEN_BASE_LENGTH} chars of `[a-z0-9-]`. A state machine's Run state sends
 * it with `-<$$.Execution.RedriveCount>` appended (lib/pipelines/kit.ts), so a redriven execution — same id —
 * starts a new job run instead of getting the failed one back; with the suffix it stays within the API's 64.
 */
export function clientToken(executionId: string, step: string): string {
  const digest = createHash('sha256').update(`${executionId}\u0000${step}`).digest('hex').slice(0, 40);
  const readable = step.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 17);
  return `${readable}-${digest}`;
}

/** Longest {@link clientToken}: 17 readable + `-` + 40 hex, leaving 6 of StartJobRun's 64 for `-<redrive count>`. */
export const CLIENT_TOKEN_BASE_LENGTH = 58;

/** EMR Serverless job-run name (≤ 256 chars of `[A-Za-z0-9._#-]`). */
export function jobRunName(stateMachine: string, executionName: string, step: string): string {
  const name = `${stateMachine}-${executionName}-${step}`.replace(/[^A-Za-z0-9._#-]/g, '-');
  if (name.length <= 256) return name;
  const digest = createHash('sha256').update(name).digest('hex').slice(0, 12);
  return `${name.slice(0, 243)}-${digest}`;
}

/** `s3://<lake>/runs/<state machine>/<execution>/<step>.json` (CONTRACTS.md S3 layout). */
export function defaultResultUri(env: Pick<JobRunEnvironment, 'lakeBucket'>, execution: ExecutionRef, step: string): string {
  return `s3://${env.lakeBucket}/runs/${execution.stateMachine ?? 'standalone'}/${execution.name}/${step}.json`;
}

/** spark-submit parts → `SparkSubmitParameters` (space-separated, values never contain whitespace). */
export function renderSparkSubmitParameters(spec: Omit<SparkSubmitSpec, 'entryPoint' | 'arguments'>): string {
  const parts: string[] = [];
  if (spec.archives.length) parts.push('--conf', `spark.archives=${spec.archives.join(',')}`);
  if (spec.pyFiles.length) parts.push('--py-files', spec.pyFiles.join(','));
  if (spec.jars.length) parts.push('--jars', spec.jars.join(','));
  if (spec.files.length) parts.push('--files', spec.files.join(','));
  for (const [key, value] of spec.conf) parts.push('--conf', `${key}=${value}`);
  return parts.join(' ');
}

/** Inverse of {@link renderSparkSubmitParameters} (for the local runner and tests). */
export function parseSparkSubmitParameters(parameters: string): Omit<SparkSubmitSpec, 'entryPoint' | 'arguments'> {
  const tokens = parameters.trim().split(/\s+/).filter(Boolean);
  const spec: Omit<SparkSubmitSpec, 'entryPoint' | 'arguments'> = { archives: [], pyFiles: [], jars: [], files: [], conf: [] };
  for (let i = 0; i < tokens.length; i += 1) {
    const token = tokens[i];
    const [flag, inline] = token.includes('=') && token.startsWith('--') ? [token.slice(0, token.indexOf('=')), token.slice(token.indexOf('=') + 1)] : [token, undefined];
    const value = inline ?? tokens[++i];
    if (value === undefined) throw new JobRequestError(`SparkSubmitParameters: ${flag} has no value`);
    const list = value.split(',');
    if (flag === '--py-files') spec.pyFiles.push(...list);
    else if (flag === '--jars') spec.jars.push(...list);
    else if (flag === '--files') spec.files.push(...list);
    else if (flag === '--archives') spec.archives.push(...list);
    else if (flag === '--conf') {
      const eq = value.indexOf('=');
      if (eq <= 0) throw new JobRequestError(`SparkSubmitParameters: --conf ${value} is not key=value`);
      const key = value.slice(0, eq);
      const v = value.slice(eq + 1);
      if (key === 'spark.archives') spec.archives.push(...v.split(','));
      else if (key === 'spark.submit.pyFiles') spec.pyFiles.push(...v.split(','));
      else if (key === 'spark.jars') spec.jars.push(...v.split(','));
      else if (key === 'spark.files') spec.files.push(...v.split(','));
      else spec.conf.push([key, v]);
    } else throw new JobRequestError(`SparkSubmitParameters: unsupported option ${flag}`);
  }
  return spec;
}

/** PascalCase request → the camelCase input of `@aws-sdk/client-emr-serverless` StartJobRunCommand. */
export function toSdkStartJobRunInput(request: StartJobRunRequest) {
  return {
    applicationId: request.ApplicationId,
    executionRoleArn: request.ExecutionRoleArn,
    name: request.Name,
    clientToken: request.ClientToken,
    executionTimeoutMinutes: request.ExecutionTimeoutMinutes,
    mode: request.Mode,
    retryPolicy: { maxAttempts: request.RetryPolicy.MaxAttempts },
    jobDriver: {
      sparkSubmit: {
        entryPoint: request.JobDriver.SparkSubmit.EntryPoint,
        entryPointArguments: request.JobDriver.SparkSubmit.EntryPointArguments,
        sparkSubmitParameters: request.JobDriver.SparkSubmit.SparkSubmitParameters,
      },
    },
    configurationOverrides: {
      monitoringConfiguration: {
        s3MonitoringConfiguration: {
          logUri: request.ConfigurationOverrides.MonitoringConfiguration.S3MonitoringConfiguration.LogUri,
        },
      },
    },
    tags: request.Tags,
  };
}

function applyDatabaseDefaults(args: Record<string, unknown>, env: JobRunEnvironment): void {
  const usesPostgres = args.source === 'postgres' || args.sink === 'postgres';
  if (!usesPostgres || args.dbSecretArn !== undefined || args.dbUrlEnv !== undefined) return;
  if (!env.dbSecretArn) {
    throw new JobArgumentsError(
      `args.${args.source === 'postgres' ? 'source' : 'sink'}: "postgres" needs a database, but stage "${env.stage}" has none configured (DB_SECRET_ARN unset)`,
    );
  }
  args.dbSecretArn = env.dbSecretArn;
}

function parseOrThrow<T extends z.ZodType>(schema: T, value: unknown, field: string): z.output<T> {
  const result = schema.safeParse(value);
  if (!result.success) throw new JobRequestError(`Invalid job request: ${formatIssues(field, result.error)}`);
  return result.data;
}
