import { randomBytes } from 'node:crypto';
import type { LocalWorker } from '../job-run-usage';
import { jobRunUtilization } from '../job-run-usage';

/**
 * An EMR Serverless job run as the local runner keeps it and as the API shows it: the StartJobRun request the
 * state machine sends (PascalCase), the run's record, the `.sync` task output, GetJobRun's shape (SDK camelCase),
 * the request validation the API does, and the failure a `.sync` task raises.
 */
export interface StartJobRunRequest {
  ApplicationId: string;
  ExecutionRoleArn: string;
  Name?: string;
  ClientToken: string;
  ExecutionTimeoutMinutes?: number;
  Mode?: 'BATCH' | 'STREAMING';
  RetryPolicy?: { MaxAttempts?: number; MaxFailedAttemptsPerHour?: number };
  JobDriver: { SparkSubmit: { EntryPoint: string; EntryPointArguments?: string[]; SparkSubmitParameters?: string } };
  ConfigurationOverrides?: { MonitoringConfiguration?: { S3MonitoringConfiguration?: { LogUri?: string } } };
  Tags?: Record<string, string>;
}

export interface JobRunRecord {
  readonly applicationId: string;
  readonly jobRunId: string;
  readonly arn: string;
  readonly name: string;
  readonly state: 'SUCCESS' | 'FAILED' | 'CANCELLED';
  readonly stateDetails: string;
  readonly exitCode: number | null;
  /** Submission. */
  readonly createdAt: Date;
  /** When the run left the queue (undefined: it never started). */
  readonly startedAt?: Date;
  readonly endedAt: Date;
  /** Time spent QUEUED. */
  readonly queuedMilliseconds: number;
  /** Run time, from leaving the queue to the end (0 when it never started). */
  readonly durationSeconds: number;
  /** The worker the run had (its size prices it). */
  readonly worker: LocalWorker;
  readonly logFile: string;
  readonly commandLine: string[];
  readonly cpuSeconds: number;
  /** The attempt that ended the run (1 without a retry policy). */
  readonly attempt: number;
  /** Every attempt, first to last (ListJobRunAttempts). */
  readonly attempts: readonly JobRunAttempt[];
}

/** One attempt of a job run under a retry policy: EMR Serverless reruns a failed batch attempt from the start. */
export interface JobRunAttempt {
  readonly attempt: number;
  readonly state: JobRunRecord['state'];
  readonly stateDetails: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** `retryPolicy.maxAttempts` of a request: batch jobs only, 1 without a policy. */
export function maxAttemptsOf(request: StartJobRunRequest): number {
  return request.Mode === 'STREAMING' ? 1 : (request.RetryPolicy?.MaxAttempts ?? 1);
}

export class JobRunFailedError extends Error {
  constructor(readonly cause: string, readonly record?: JobRunRecord, errorName = 'States.TaskFailed') {
    super(cause);
    this.name = errorName;
  }
}


/**
 * The `.sync` output: the final job run as GetJobRun returns it ({@link getJobRunShape}), PascalCase like the
 * integration's other outputs, dates as ISO strings, plus the runner's own notes (`Local`).
 */
export function describeJobRun(record: JobRunRecord, request: StartJobRunRequest, releaseLabel: string): Record<string, unknown> {
  return {
    ...(pascalCase(getJobRunShape(record, releaseLabel, request)) as Record<string, unknown>),
    // the runner's own notes (driver log, exit status, CPU time measured); no AWS field
    Local: { logFile: record.logFile, exitCode: record.exitCode, cpuSeconds: round6(record.cpuSeconds) },
  };
}

/**
 * SDK camelCase → the integration's PascalCase (keys, deeply; `vCPUHour` → `VCPUHour`; the user's tag keys stay as
 * they are), dates → ISO strings.
 */
function pascalCase(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(pascalCase);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k.charAt(0).toUpperCase() + k.slice(1), k === 'tags' ? v : pascalCase(v)]),
    );
  }
  return value;
}

/**
 * The job run as `GetJobRun` returns it (SDK camelCase, dates as Date), its resource use in EMR Serverless' terms:
 * what the run's worker used and what EMR Serverless would bill for it (job-run-usage.ts).
 */
export function getJobRunShape(record: JobRunRecord, releaseLabel: string, request?: StartJobRunRequest): Record<string, unknown> {
  const { total, billed } = jobRunUtilization(record.worker, record.durationSeconds);
  return {
    applicationId: record.applicationId,
    jobRunId: record.jobRunId,
    arn: record.arn,
    name: record.name,
    state: record.state,
    stateDetails: record.stateDetails,
    releaseLabel,
    executionRole: request?.ExecutionRoleArn,
    createdAt: record.createdAt,
    updatedAt: record.endedAt,
    ...(record.startedAt ? { startedAt: record.startedAt } : {}),
    endedAt: record.endedAt,
    totalExecutionDurationSeconds: Math.round(record.durationSeconds),
    queuedDurationMilliseconds: record.queuedMilliseconds,
    executionTimeoutMinutes: request?.ExecutionTimeoutMinutes,
    ...(request?.ConfigurationOverrides?.MonitoringConfiguration?.S3MonitoringConfiguration?.LogUri
      ? { configurationOverrides: { monitoringConfiguration: { s3MonitoringConfiguration: { logUri: request.ConfigurationOverrides.MonitoringConfiguration.S3MonitoringConfiguration.LogUri } } } }
      : {}),
    mode: request?.Mode ?? 'BATCH',
    ...(request?.RetryPolicy ? { retryPolicy: { maxAttempts: request.RetryPolicy.MaxAttempts } } : {}),
    attempt: record.attempt,
    attemptCreatedAt: record.attempts.at(-1)?.createdAt ?? record.createdAt,
    attemptUpdatedAt: record.endedAt,
    billedResourceUtilization: billed,
    totalResourceUtilization: total,
    tags: request?.Tags ?? {},
  };
}

export function validateRequest(request: StartJobRunRequest): void {
  const missing: string[] = [];
  if (!request || typeof request !== 'object') throw new JobRunFailedError('StartJobRun: the task input is not an object', undefined, 'EMRServerless.ValidationException');
  if (!request.ApplicationId) missing.push('ApplicationId');
  if (!request.ExecutionRoleArn) missing.push('ExecutionRoleArn');
  if (!request.ClientToken) missing.push('ClientToken');
  if (!request.JobDriver?.SparkSubmit?.EntryPoint) missing.push('JobDriver.SparkSubmit.EntryPoint');
  if (missing.length) {
    throw new JobRunFailedError(
      `1 validation error detected: Value null at '${missing[0]}' failed to satisfy constraint: Member must not be null (missing: ${missing.join(', ')})`,
      undefined,
      'EMRServerless.ValidationException',
    );
  }
  const maxAttempts = request.RetryPolicy?.MaxAttempts;
  if (maxAttempts !== undefined && (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > 10)) {
    throw new JobRunFailedError(
      `1 validation error detected: Value '${maxAttempts}' at 'retryPolicy.maxAttempts' failed to satisfy constraint: Member must be between 1 and 10 for BATCH jobs`,
      undefined,
      'EMRServerless.ValidationException',
    );
  }
  if (request.ClientToken.length > 64) {
    throw new JobRunFailedError(
      `1 validation error detected: Value at 'clientToken' failed to satisfy constraint: Member must have length less than or equal to 64`,
      undefined,
      'EMRServerless.ValidationException',
    );
  }
}

export function newJobRunId(): string {
  // EMR Serverless job run ids: 16-20 lower-case alphanumerics
  return `00${randomBytes(9).toString('hex').slice(0, 16)}`;
}

export function regionOf(arn: string): string {
  return arn.split(':')[3] || 'us-east-1';
}

export function accountOf(arn: string): string {
  return arn.split(':')[4] || '000000000000';
}

function round6(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}

/** The last Python/Java exception lines of a driver's stderr, like EMR Serverless' StateDetails. */
export function lastExceptions(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim());
  const found = lines.filter((l) => /^([A-Za-z_][\w.]*(Error|Exception)|pyspark\.errors\.[\w.]+)(: .*)?$/.test(l));
  const jobError = lines.filter((l) => /ERROR jobs\./.test(l)).map((l) => l.replace(/^.*ERROR /, ''));
  const picked = [...new Set([...jobError, ...found])].slice(-3);
  return picked.join('; ').slice(0, 1000);
}
