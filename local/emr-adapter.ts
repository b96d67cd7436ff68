import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { parseSparkSubmitParameters } from '../lib/jobs/job-request-builder';
import { driverLogPrefix } from '../lib/jobs/job-run-logs';
import { JobRunQueue, SchedulerConfiguration } from './job-queue';
import { LocalWorker, localWorker } from './job-run-usage';
import { LocalLayout } from './layout';
import {
  accountOf,
  describeJobRun,
  getJobRunShape,
  JobRunAttempt,
  JobRunFailedError,
  JobRunRecord,
  lastExceptions,
  maxAttemptsOf,
  newJobRunId,
  regionOf,
  StartJobRunRequest,
  validateRequest,
} from './emr/job-run';
import { JobRunAccess, LocalSparkOptions, SparkSubmitCommand } from './emr/spark-submit';
import { writeAtomic } from './s3/tree';

export { describeJobRun, getJobRunShape, JobRunFailedError, lastExceptions } from './emr/job-run';
export type { JobRunRecord, StartJobRunRequest } from './emr/job-run';
export { isDroppedConf } from './emr/spark-submit';
export type { JobRunAccess, LocalSparkOptions } from './emr/spark-submit';

/**
 * `arn:aws:states:::emr-serverless:startJobRun.sync` on one machine: the StartJobRun request (PascalCase, as the
 * state machine passes it) becomes a `spark-submit` of the pinned pyspark with the same entry point, the same
 * arguments and the Spark properties that apply locally. The job's exit status becomes the task's outcome:
 * exit 0 → the `.sync` output (the final job run, below); anything else → a `States.TaskFailed` error whose
 * Cause is the job run JSON with `State: FAILED` and `StateDetails` naming the exit code and the last exception,
 * so the definition's Retry/Catch act as they do in the cloud.
 *
 * What changes locally, and only here:
 * - the job runs with the execution role's credentials (environment, as in a job's container) and talks to the
 *   local AWS endpoint: `s3://` is Hadoop S3A against it (path-style, TLS with the loopback certificate), boto3
 *   reaches it through `AWS_ENDPOINT_URL`; every request it makes is authorized against the role's policies.
 * - `s3://<bucket>/<key>` locations of the request (entry point, `--py-files`, `--jars`, `--files`, archives) are
 *   fetched as EMR Serverless fetches them: with the execution role, which must be allowed to `s3:GetObject`
 *   them; locally they are then read from `<layout.s3Root>/<bucket>/<key>`.
 * - the Python dependency archive (`spark.archives` entry `#environment`) is not unpacked: the job runs on the
 *   pinned virtualenv (`.venv`), which has the same requirements; other archives (`#models`) are unpacked into the
 *   job's working directory under their alias, as EMR Serverless does.
 * - EMR-only and sizing properties are dropped (`spark.emr-serverless.*`, `spark.executor.*` sizing,
 *   `spark.driver.cores|memory`, `spark.dynamicAllocation.*`, PySpark interpreter paths); local sizing is
 *   `--master local[N]` and a small driver heap instead.
 * - driver stdout/stderr go to a log file (and, gzipped, to the request's S3 log location:
 *   `<logUri>/applications/<appId>/jobs/<jobRunId>/SPARK_DRIVER/{stdout,stderr}.gz`, as EMR Serverless writes them).
 * - runs are queued as the application's `SchedulerConfiguration` says (job-queue.ts): at most
 *   `MaxConcurrentRuns` at once (and at most what this machine runs at once), a run that waits longer than
 *   `QueueTimeoutMinutes` ends CANCELLED without starting.
 * - `ExecutionTimeoutMinutes` is enforced from the moment the run leaves the queue (0 = none): EMR Serverless
 *   cancels a run that exceeds it, so it ends CANCELLED with the timeout in `StateDetails`.
 * - a run is cancelled (CANCELLED) when the caller's signal aborts — Step Functions' CancelJobRun when a `.sync`
 *   task times out — or when its scope (execution) ends ({@link LocalEmrServerless.cancelScope}).
 * - GetJobRun reports the run's resources in EMR Serverless' terms (job-run-usage.ts).
 * - `ClientToken` is honoured within one runner process: the same token returns the same job run.
 */
/**
 * Known applications: id → release label and scheduler configuration (the adapter rejects unknown application
 * ids like the API does).
 */
export type LocalApplications = ReadonlyMap<string, { releaseLabel: string; name?: string; scheduler?: SchedulerConfiguration }>;

/** Options of one StartJobRun. */
export interface StartJobRunOptions {
  /** Aborting it cancels the run (CancelJobRun); a string reason becomes the run's `StateDetails`. */
  readonly signal?: AbortSignal;
}

export class LocalEmrServerless {
  private readonly runsByToken = new Map<string, Promise<JobRunRecord>>();
  private readonly queue: JobRunQueue;
  /** Running spark-submit processes by scope (execution ARN), for {@link cancelScope}. */
  private readonly children = new Map<string, Set<import('node:child_process').ChildProcess>>();
  /** Cancelled processes → the `StateDetails` their run ends with. */
  private readonly cancelled = new WeakMap<import('node:child_process').ChildProcess, string>();
  readonly history: JobRunRecord[] = [];
  /** Called when a job run ends (EMR Serverless' job-run state-change event). */
  onJobRunEnded?: (record: JobRunRecord, releaseLabel: string) => void;
  private readonly requests = new Map<string, { request: StartJobRunRequest; releaseLabel: string }>();
  private readonly command: SparkSubmitCommand;

  constructor(
    private readonly layout: LocalLayout,
    private readonly applications: LocalApplications,
    private readonly options: LocalSparkOptions,
    private readonly access: JobRunAccess,
  ) {
    this.queue = new JobRunQueue(options.maxConcurrentRuns ?? 2, this.clockScale);
    this.command = new SparkSubmitCommand(layout, options, access);
  }

  private get clockScale(): number {
    return this.options.clock?.scale ?? 1;
  }

  /**
   * Runs the request to completion. Resolves with the `.sync` output; rejects with a `States.TaskFailed` error
   * (or `EMRServerless.ValidationException` / `EMRServerless.ResourceNotFoundException` for a bad request).
   * `logFile` receives the driver's output; `scope` groups the runs {@link cancelScope} cancels.
   */
  async startJobRunSync(request: StartJobRunRequest, logFile: string, scope = 'default', options: StartJobRunOptions = {}): Promise<Record<string, unknown>> {
    validateRequest(request);
    const app = this.applications.get(request.ApplicationId);
    if (!app) {
      throw new JobRunFailedError(
        `Application ${request.ApplicationId} does not exist. (Service: EmrServerless, Status Code: 404)`,
        undefined,
        'EMRServerless.ResourceNotFoundException',
      );
    }
    let run = this.runsByToken.get(request.ClientToken);
    if (!run) {
      run = this.submit(request, app.releaseLabel, app.scheduler, logFile, scope, options.signal);
      this.runsByToken.set(request.ClientToken, run);
    }
    const record = await run;
    this.requests.set(record.jobRunId, { request, releaseLabel: app.releaseLabel });
    const jobRun = describeJobRun(record, request, app.releaseLabel);
    if (record.state !== 'SUCCESS') throw new JobRunFailedError(JSON.stringify(jobRun), record);
    return jobRun;
  }

  /** SUBMITTED → QUEUED until the application and the machine have a slot → runs (or leaves the queue CANCELLED). */
  private async submit(request: StartJobRunRequest, releaseLabel: string, scheduler: SchedulerConfiguration | undefined, logFile: string, scope: string, signal?: AbortSignal): Promise<JobRunRecord> {
    const run = { jobRunId: newJobRunId(), createdAt: new Date() };
    const admission = await this.queue.admit(request.ApplicationId, scheduler, scope, signal);
    if (!admission.admitted) {
      mkdirSync(path.dirname(logFile), { recursive: true });
      writeFileSync(logFile, `# job run ${run.jobRunId} (${request.Name ?? ''}) ended CANCELLED in the queue: ${admission.stateDetails}\n`, { flag: 'a' });
      const endedAt = new Date();
      const record: JobRunRecord = {
        ...this.identity(request, run.jobRunId),
        state: 'CANCELLED',
        stateDetails: admission.stateDetails,
        exitCode: null,
        createdAt: run.createdAt,
        endedAt,
        queuedMilliseconds: admission.queuedMs,
        durationSeconds: 0,
        worker: this.worker(),
        logFile,
        commandLine: [],
        cpuSeconds: 0,
        attempt: 1,
        attempts: [],
      };
      this.ended(record, releaseLabel);
      return record;
    }
    try {
      // retryPolicy: a FAILED attempt is rerun from the start while attempts remain; a cancelled or timed-out one
      // is not (EMR Serverless retries failures only)
      const maxAttempts = maxAttemptsOf(request);
      const attempts: JobRunAttempt[] = [];
      let first: JobRunRecord | undefined;
      for (let attempt = 1; ; attempt += 1) {
        const ended = await this.execute(request, releaseLabel, logFile, scope, { ...run, queuedMilliseconds: admission.queuedMs, attempt }, signal);
        first ??= ended;
        attempts.push({ attempt, state: ended.state, stateDetails: ended.stateDetails, createdAt: ended.startedAt ?? ended.createdAt, updatedAt: ended.endedAt });
        if (ended.state !== 'FAILED' || attempt >= maxAttempts || signal?.aborted) {
          const record: JobRunRecord = {
            ...ended,
            startedAt: first.startedAt,
            durationSeconds: first.startedAt ? (ended.endedAt.getTime() - first.startedAt.getTime()) / 1000 : 0,
            cpuSeconds: attempts.length > 1 ? first.cpuSeconds + ended.cpuSeconds : ended.cpuSeconds,
            attempt,
            attempts,
          };
          this.ended(record, releaseLabel);
          return record;
        }
        writeFileSync(logFile, `# attempt ${attempt} of ${maxAttempts} FAILED; EMR Serverless reruns the job from the start (retryPolicy)\n`, { flag: 'a' });
      }
    } finally {
      admission.release();
    }
  }

  private ended(record: JobRunRecord, releaseLabel: string): void {
    this.history.push(record);
    this.onJobRunEnded?.(record, releaseLabel);
  }

  /** ListJobRunAttempts: the attempts of a job run this adapter ran (SDK camelCase). */
  listJobRunAttempts(applicationId: string, jobRunId: string): Array<Record<string, unknown>> | undefined {
    const record = this.history.find((r) => r.applicationId === applicationId && r.jobRunId === jobRunId);
    if (!record) return undefined;
    const known = this.requests.get(jobRunId);
    return record.attempts.map((a) => ({
      applicationId,
      id: jobRunId,
      name: record.name,
      mode: known?.request.Mode ?? 'BATCH',
      arn: record.arn,
      createdBy: known?.request.ExecutionRoleArn,
      jobCreatedAt: record.createdAt,
      createdAt: a.createdAt,
      updatedAt: a.updatedAt,
      executionRole: known?.request.ExecutionRoleArn,
      state: a.state,
      stateDetails: a.stateDetails,
      releaseLabel: known?.releaseLabel ?? 'local',
      type: 'Spark',
      attempt: a.attempt,
    }));
  }

  private identity(request: StartJobRunRequest, jobRunId: string): Pick<JobRunRecord, 'applicationId' | 'jobRunId' | 'arn' | 'name'> {
    const arn = `arn:aws:emr-serverless:${regionOf(request.ExecutionRoleArn)}:${accountOf(request.ExecutionRoleArn)}:/applications/${request.ApplicationId}/jobruns/${jobRunId}`;
    return { applicationId: request.ApplicationId, jobRunId, arn, name: request.Name ?? jobRunId };
  }

  private worker(): LocalWorker {
    return localWorker(this.options.master ?? 'local[2]', this.options.driverMemory ?? '2g');
  }

  /** GetJobRun for the AWS adapters: a job run this adapter ran. */
  getJobRun(applicationId: string, jobRunId: string): Record<string, unknown> | undefined {
    const record = this.history.find((r) => r.applicationId === applicationId && r.jobRunId === jobRunId);
    const known = this.requests.get(jobRunId);
    return record ? getJobRunShape(record, known?.releaseLabel ?? 'local', known?.request) : undefined;
  }

  /** The spark-submit command line and environment for a request (exported for tests and `--dry-run`). */
  prepare(request: StartJobRunRequest, jobRunId: string): { argv: string[]; env: NodeJS.ProcessEnv; cwd: string } {
    return this.command.prepare(request, jobRunId);
  }

  /**
   * Cancels the job runs a scope still has running — what Step Functions does to a `.sync` job run when its
   * execution ends or a Parallel branch fails. The runs end CANCELLED.
   */
  cancelScope(scope: string): number {
    const details = 'Job run cancelled: its execution ended (or its Parallel branch failed).';
    const queued = this.queue.cancelScope(scope, details);
    const running = this.children.get(scope);
    if (!running) return queued;
    for (const child of running) {
      if (!this.cancelled.has(child)) this.cancelled.set(child, details);
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }
    this.children.delete(scope);
    return queued + running.size;
  }

  private async execute(
    request: StartJobRunRequest,
    releaseLabel: string,
    logFile: string,
    scope: string,
    run: { jobRunId: string; createdAt: Date; queuedMilliseconds: number; attempt: number },
    signal?: AbortSignal,
  ): Promise<JobRunRecord> {
    const { jobRunId, createdAt } = run;
    const startedAt = new Date();
    mkdirSync(path.dirname(logFile), { recursive: true });
    const log = createWriteStream(logFile, { flags: 'a' });
    const finish = (state: JobRunRecord['state'], stateDetails: string, exitCode: number | null, argv: string[], cpuSeconds: number): JobRunRecord => {
      const endedAt = new Date();
      const record: JobRunRecord = {
        ...this.identity(request, jobRunId),
        state,
        stateDetails,
        exitCode,
        createdAt,
        startedAt,
        endedAt,
        queuedMilliseconds: run.queuedMilliseconds,
        durationSeconds: (endedAt.getTime() - startedAt.getTime()) / 1000,
        worker: this.worker(),
        logFile,
        commandLine: argv,
        cpuSeconds,
        attempt: run.attempt,
        attempts: [],
      };
      return record;
    };

    let prepared: ReturnType<LocalEmrServerless['prepare']>;
    try {
      // EMR Serverless assumes the execution role (its trust policy, with aws:SourceArn = the application), then
      // fetches the entry point, --py-files, --jars, --files and archives with it
      await this.access.assertMayAssume(request.ExecutionRoleArn, `arn:aws:emr-serverless:${regionOf(request.ExecutionRoleArn)}:${accountOf(request.ExecutionRoleArn)}:/applications/${request.ApplicationId}`);
      const spec = parseSparkSubmitParameters(request.JobDriver.SparkSubmit.SparkSubmitParameters ?? '');
      const artifacts = [request.JobDriver.SparkSubmit.EntryPoint, ...spec.pyFiles, ...spec.jars, ...spec.files, ...spec.archives.map((a) => a.split('#')[0])];
      for (const uri of artifacts.filter((u) => /^s3a?:\/\//.test(u))) await this.access.assertMayRead(request.ExecutionRoleArn, uri);
      prepared = this.prepare(request, jobRunId);
    } catch (error) {
      log.end(`${(error as Error).message}\n`);
      if (error instanceof JobRunFailedError && error.name !== 'States.TaskFailed') throw error;
      return finish('FAILED', `Job failed before start: ${(error as Error).message}`, null, [], 0);
    }
    const sparkSubmit = this.options.sparkSubmit ?? path.join(this.options.projectRoot, '.venv', 'bin', 'spark-submit');
    log.write(`# job run ${jobRunId} (${request.Name ?? ''}) on ${releaseLabel} → local spark-submit\n`);
    log.write(`# StartJobRun request: ${JSON.stringify(request)}\n# ${[sparkSubmit, ...prepared.argv].join(' ')}\n`);

    // 0 = no timeout; the clock counts from here, when the run left the queue
    const timeoutMinutes = request.ExecutionTimeoutMinutes ?? 720;
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let cancelled: string | undefined;
    const { exitCode, timedOut, cpuSeconds } = await new Promise<{ exitCode: number | null; timedOut: boolean; cpuSeconds: number }>((resolve) => {
      const child = spawn(sparkSubmit, prepared.argv, { cwd: prepared.cwd, env: prepared.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      if (!this.children.has(scope)) this.children.set(scope, new Set());
      this.children.get(scope)!.add(child);
      let timedOut = false;
      const kill = () => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      };
      const timer =
        timeoutMinutes > 0
          ? setTimeout(() => {
              timedOut = true;
              kill();
            }, timeoutMinutes * 60_000 * this.clockScale)
          : undefined;
      const onAbort = () => {
        if (!this.cancelled.has(child)) this.cancelled.set(child, typeof signal?.reason === 'string' ? signal.reason : 'Job run cancelled (CancelJobRun).');
        kill();
      };
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
      child.stdout.on('data', (d: Buffer) => {
        stdout.push(d);
        log.write(d);
      });
      child.stderr.on('data', (d: Buffer) => {
        stderr.push(d);
        log.write(d);
      });
      child.on('error', (error) => {
        stderr.push(Buffer.from(`${error.message}\n`));
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve({ exitCode: 127, timedOut, cpuSeconds: 0 });
      });
      child.on('close', (code, killedBy) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.children.get(scope)?.delete(child);
        cancelled = this.cancelled.get(child);
        resolve({ exitCode: code ?? (killedBy ? 128 : null), timedOut, cpuSeconds: childCpuSeconds() });
      });
    });
    await new Promise<void>((resolve) => log.end(resolve));
    const pendingArchive = prepared.argv.map((a) => /-XX:ArchiveClassesAtExit=(\S+)/.exec(a)?.[1]).find(Boolean);
    if (pendingArchive) {
      if (exitCode === 0 && existsSync(pendingArchive)) require('node:fs').renameSync(pendingArchive, pendingArchive.replace(/\.[^.]+\.tmp$/, ''));
      else rmSync(pendingArchive, { force: true });
      this.command.archiveFinished();
    }
    await this.shipLogs(request, jobRunId, run.attempt, Buffer.concat(stdout), Buffer.concat(stderr));
    rmSync(path.join(prepared.cwd, 'tmp'), { recursive: true, force: true });

    if (cancelled) return finish('CANCELLED', cancelled, exitCode, prepared.argv, cpuSeconds);
    if (timedOut) {
      // "If the job run exceeds this duration, EMR Serverless will automatically cancel it."
      return finish('CANCELLED', `Job run timed out after ${timeoutMinutes} minutes (executionTimeoutMinutes) and was cancelled.`, exitCode, prepared.argv, cpuSeconds);
    }
    if (exitCode === 0) return finish('SUCCESS', '', 0, prepared.argv, cpuSeconds);
    // PySpark's PythonRunner merges the Python driver's stderr into spark-submit's stdout: look at both.
    const exceptions = lastExceptions(`${Buffer.concat(stdout).toString('utf8')}\n${Buffer.concat(stderr).toString('utf8')}`);
    return finish(
      'FAILED',
      `Job failed, please check complete logs in configured logging destination. ExitCode: ${exitCode}. Last few exceptions: ${exceptions || '(none)'}`,
      exitCode,
      prepared.argv,
      cpuSeconds,
    );
  }

  private async shipLogs(request: StartJobRunRequest, jobRunId: string, attempt: number, stdout: Buffer, stderr: Buffer): Promise<void> {
    const logUri = request.ConfigurationOverrides?.MonitoringConfiguration?.S3MonitoringConfiguration?.LogUri;
    if (!logUri || !/^s3a?:\/\//.test(logUri)) return;
    const base = driverLogPrefix(logUri, request.ApplicationId, jobRunId, attempt);
    if (!(await this.access.mayWrite(request.ExecutionRoleArn, `${base}/stdout.gz`))) return;
    try {
      writeAtomic(this.layout.uriToPath(`${base}/stdout.gz`), gzipSync(stdout));
      writeAtomic(this.layout.uriToPath(`${base}/stderr.gz`), gzipSync(stderr));
    } catch {
      // a missing logs bucket must not fail the job run (EMR Serverless does not fail it either)
    }
  }
}

/** CPU seconds of finished children so far (the runner only starts Spark children, so deltas are per job). */
let lastChildCpu = 0;
function childCpuSeconds(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[13]) + Number(fields[14]); // cutime + cstime
    const total = ticks / 100;
    const delta = total - lastChildCpu;
    lastChildCpu = total;
    return Math.max(0, delta);
  } catch {
    return 0;
  }
}

