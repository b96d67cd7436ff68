import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { parseSparkSubmitParameters } from '../lib/jobs/job-request-builder';
import { JobRunQueue, SchedulerConfiguration } from './job-queue';
import { jobRunUtilization, LocalWorker, localWorker } from './job-run-usage';
import { writeAtomic } from './s3/tree';
import { LocalCredential } from './endpoint/credentials';
import { LoopbackCertificate } from './endpoint/tls';
import { LocalLayout } from './layout';

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
export interface StartJobRunRequest {
  ApplicationId: string;
  ExecutionRoleArn: string;
  Name?: string;
  ClientToken: string;
  ExecutionTimeoutMinutes?: number;
  JobDriver: { SparkSubmit: { EntryPoint: string; EntryPointArguments?: string[]; SparkSubmitParameters?: string } };
  ConfigurationOverrides?: { MonitoringConfiguration?: { S3MonitoringConfiguration?: { LogUri?: string } } };
  Tags?: Record<string, string>;
}

export interface LocalSparkOptions {
  /** Repository root (where `.venv` and `jobs/` live). */
  readonly projectRoot: string;
  /** `local[N]` master. @default `local[2]` */
  readonly master?: string;
  /** Driver heap. @default `2g` */
  readonly driverMemory?: string;
  /** Local shuffle partitions when the request sets none. @default 4 */
  readonly shufflePartitions?: number;
  /**
   * How many job runs this machine runs at once (later ones wait, like QUEUED); the application's own
   * `MaxConcurrentRuns` applies on top when it is lower. @default 2
   */
  readonly maxConcurrentRuns?: number;
  /**
   * The service's clock for its minute-long timers (`QueueTimeoutMinutes`, `ExecutionTimeoutMinutes`): `scale` is
   * real time per service time, e.g. 1/600 makes a 15-minute queue timeout 1.5 s (tests). @default { scale: 1 }
   */
  readonly clock?: { readonly scale: number };
  /** The spark-submit executable. @default `<projectRoot>/.venv/bin/spark-submit` */
  readonly sparkSubmit?: string;
  /**
   * Start the driver JVM for short local jobs: C1 compiler only, serial GC, and a class-data-sharing archive of
   * Spark's classes made by the first job run and reused after (`<projectRoot>/.local/emr/cds/`). Halves a job's start-up CPU.
   * @default true
   */
  readonly fastStartup?: boolean;
  /** Environment added to every spark-submit. */
  readonly extraEnv?: Record<string, string>;
}

/** How a job run reaches AWS locally: the endpoint, its certificate, the role's credentials, the S3A jars. */
export interface JobRunAccess {
  /** `https://127.0.0.1:<port>` (aws-endpoint.ts). */
  readonly endpointUrl: string;
  readonly certificate: LoopbackCertificate;
  /** Hadoop S3A + the AWS SDK v2 modules it needs. */
  readonly s3aJars: readonly string[];
  /** The execution role's credential (the role must trust EMR Serverless for the application). */
  credential(executionRoleArn: string, applicationArn: string): LocalCredential;
  /** Rejects with {@link JobRunFailedError} when the role does not trust EMR Serverless for this application. */
  assertMayAssume(executionRoleArn: string, applicationArn: string): Promise<void>;
  /** Rejects with {@link JobRunFailedError} when the role may not read an artifact of the request. */
  assertMayRead(executionRoleArn: string, uri: string): Promise<void>;
  /** Whether the role may write the driver logs (EMR Serverless skips the upload when it may not). */
  mayWrite(executionRoleArn: string, uri: string): Promise<boolean>;
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
}

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

export class JobRunFailedError extends Error {
  constructor(readonly cause: string, readonly record?: JobRunRecord, errorName = 'States.TaskFailed') {
    super(cause);
    this.name = errorName;
  }
}

/** Properties that only mean something on EMR Serverless or that size cloud workers. */
const DROPPED_CONF = [
  /^spark\.emr-serverless\./,
  /^spark\.executor\.(cores|memory|instances|memoryOverhead)$/,
  /^spark\.driver\.(cores|memory|memoryOverhead)$/,
  /^spark\.dynamicAllocation\./,
  /^spark\.executorEnv\.PYSPARK_(DRIVER_)?PYTHON$/,
  /^spark\.pyspark\.(driver\.)?python$/,
  /^spark\.yarn\./,
];

export function isDroppedConf(key: string): boolean {
  return DROPPED_CONF.some((re) => re.test(key));
}

export class LocalEmrServerless {
  private readonly runsByToken = new Map<string, Promise<JobRunRecord>>();
  private readonly queue: JobRunQueue;
  /** Running spark-submit processes by scope (execution ARN), for {@link cancelScope}. */
  private readonly children = new Map<string, Set<import('node:child_process').ChildProcess>>();
  /** Cancelled processes → the `StateDetails` their run ends with. */
  private readonly cancelled = new WeakMap<import('node:child_process').ChildProcess, string>();
  readonly history: JobRunRecord[] = [];
  private readonly requests = new Map<string, { request: StartJobRunRequest; releaseLabel: string }>();
  private archiveInProgress = false;
  private archivePath?: string;

  constructor(
    private readonly layout: LocalLayout,
    private readonly applications: LocalApplications,
    private readonly options: LocalSparkOptions,
    private readonly access: JobRunAccess,
  ) {
    this.queue = new JobRunQueue(options.maxConcurrentRuns ?? 2, this.clockScale);
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
      };
      this.history.push(record);
      return record;
    }
    try {
      return await this.execute(request, releaseLabel, logFile, scope, { ...run, queuedMilliseconds: admission.queuedMs }, signal);
    } finally {
      admission.release();
    }
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
    const driver = request.JobDriver.SparkSubmit;
    const spec = parseSparkSubmitParameters(driver.SparkSubmitParameters ?? '');
    const projectRoot = this.options.projectRoot;
    const cwd = path.join(this.layout.root, 'emr', 'runs', request.ApplicationId, jobRunId);
    mkdirSync(cwd, { recursive: true });

    const applicationArn = `arn:aws:emr-serverless:${regionOf(request.ExecutionRoleArn)}:${accountOf(request.ExecutionRoleArn)}:/applications/${request.ApplicationId}`;
    const credential = this.access.credential(request.ExecutionRoleArn, applicationArn);
    const localFile = (uri: string, what: string): string => {
      const s3 = uri.startsWith('s3://') || uri.startsWith('s3a://');
      const file = s3 ? this.layout.uriToPath(uri) : uri.replace(/^file:\/\//, '');
      if (!existsSync(file)) {
        throw new JobRunFailedError(
          `Job run failed before start: ${what} ${uri} does not exist (local: ${file}). Publish the artifacts first.`,
          undefined,
          'EMRServerless.ValidationException',
        );
      }
      return file;
    };

    const hostEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^AWS_/.test(k)));
    const region = regionOf(request.ExecutionRoleArn);
    const env: NodeJS.ProcessEnv = {
      ...hostEnv,
      ...this.options.extraEnv,
      SPARK_HOME: sparkHome(projectRoot),
      PYSPARK_PYTHON: path.join(projectRoot, '.venv', 'bin', 'python'),
      PYSPARK_DRIVER_PYTHON: path.join(projectRoot, '.venv', 'bin', 'python'),
      PYTHONHASHSEED: '0',
      SPARK_LOCAL_IP: '127.0.0.1',
      // the job's container credentials: the execution role's session
      AWS_ACCESS_KEY_ID: credential.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credential.secretAccessKey,
      AWS_SESSION_TOKEN: credential.sessionToken,
      AWS_REGION: region,
      AWS_DEFAULT_REGION: region,
      AWS_ENDPOINT_URL: this.access.endpointUrl,
      AWS_CA_BUNDLE: this.access.certificate.caFile,
    };
    const conf: Array<[string, string]> = [];
    for (const [key, value] of spec.conf) {
      const driverEnv = /^spark\.emr-serverless\.driverEnv\.(.+)$/.exec(key);
      if (driverEnv && !/^PYSPARK_(DRIVER_)?PYTHON$/.test(driverEnv[1])) env[driverEnv[1]] = value;
      if (isDroppedConf(key)) continue;
      conf.push([key, value]);
    }
    const has = (key: string) => conf.some(([k]) => k === key);
    // s3:// is EMRFS on EMR Serverless; locally it is S3A against the local endpoint, over TLS, with the
    // role's credentials from the environment (nothing secret on the command line)
    conf.push(
      ['spark.hadoop.fs.s3.impl', 'org.apache.hadoop.fs.s3a.S3AFileSystem'],
      ['spark.hadoop.fs.s3a.endpoint', this.access.endpointUrl],
      ['spark.hadoop.fs.s3a.endpoint.region', region],
      ['spark.hadoop.fs.s3a.path.style.access', 'true'],
      ['spark.hadoop.fs.s3a.aws.credentials.provider', 'software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider'],
      // objects a user drops into the browseable tree carry no stored ETag
      ['spark.hadoop.fs.s3a.change.detection.version.required', 'false'],
    );
    if (!has('spark.sql.shuffle.partitions')) conf.push(['spark.sql.shuffle.partitions', String(this.options.shufflePartitions ?? 4)]);
    if (!has('spark.ui.enabled')) conf.push(['spark.ui.enabled', 'false']);
    conf.push(['spark.driver.memory', this.options.driverMemory ?? '2g']);
    const trust = this.access.certificate;
    const javaOptions = [
      `-Djava.io.tmpdir=${path.join(cwd, 'tmp')}`,
      `-Djavax.net.ssl.trustStore=${trust.trustStore}`,
      `-Djavax.net.ssl.trustStorePassword=${trust.trustStorePassword}`,
      '-Djavax.net.ssl.trustStoreType=PKCS12',
    ];
    if (this.options.fastStartup ?? true) {
      // C1-compiled frames are larger: a bigger thread stack keeps deep RDD lineages (ALS iterations) from overflowing.
      javaOptions.push('-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xss16m', '-Xshare:auto');
      const archive = this.classDataArchive(projectRoot);
      if (existsSync(archive)) javaOptions.push(`-XX:SharedArchiveFile=${archive}`);
      else if (!this.archiveInProgress) {
        this.archiveInProgress = true;
        javaOptions.push(`-XX:ArchiveClassesAtExit=${archive}.${jobRunId}.tmp`);
      }
    }
    const existingJavaOptions = conf.findIndex(([k]) => k === 'spark.driver.extraJavaOptions');
    if (existingJavaOptions >= 0) javaOptions.unshift(conf.splice(existingJavaOptions, 1)[0][1]);
    conf.push(['spark.driver.extraJavaOptions', javaOptions.join(' ')]);
    conf.push(['spark.local.dir', path.join(cwd, 'tmp')]);
    mkdirSync(path.join(cwd, 'tmp'), { recursive: true });

    for (const archive of spec.archives) {
      const [uri, alias = path.basename(uri).replace(/\.(tar\.gz|tgz|zip)$/, '')] = archive.split('#');
      if (alias === 'environment') continue; // the Python environment is the pinned .venv locally
      extractArchive(localFile(uri, 'archive'), path.join(cwd, alias));
    }

    const entryArgs = driver.EntryPointArguments ?? [];
    const jars = [...spec.jars.map((u) => localFile(u, '--jars entry')), ...this.access.s3aJars];
    const argv = [
      '--master', this.options.master ?? 'local[2]',
      '--name', request.Name ?? jobRunId,
      ...(spec.pyFiles.length ? ['--py-files', spec.pyFiles.map((u) => localFile(u, '--py-files entry')).join(',')] : []),
      '--jars', jars.join(','),
      ...(spec.files.length ? ['--files', spec.files.map((u) => localFile(u, '--files entry')).join(',')] : []),
      ...conf.flatMap(([k, v]) => ['--conf', `${k}=${v}`]),
      localFile(driver.EntryPoint, 'entry point'),
      ...entryArgs,
    ];
    return { argv, env, cwd };
  }

  /** The CDS archive for this JDK + Spark installation. */
  classDataArchive(projectRoot: string): string {
    if (this.archivePath) return this.archivePath;
    const home = sparkHome(projectRoot);
    const jars = existsSync(path.join(home, 'jars')) ? require('node:fs').readdirSync(path.join(home, 'jars')).join(',') : '';
    let java = 'java';
    try {
      java = require('node:child_process').execFileSync('sh', ['-c', 'readlink -f "$(command -v java)"'], { encoding: 'utf8' }).trim();
    } catch {
      // keyed without the JDK path
    }
    const key = createHash('sha256').update(`${home}\n${jars}\n${java}`).digest('hex').slice(0, 16);
    // shared by every local tree of the project (demo, tests): the archive depends only on the JDK and Spark
    const dir = path.join(projectRoot, '.local', 'emr', 'cds');
    mkdirSync(dir, { recursive: true });
    this.archivePath = path.join(dir, `spark-${key}.jsa`);
    return this.archivePath;
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
    run: { jobRunId: string; createdAt: Date; queuedMilliseconds: number },
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
      };
      this.history.push(record);
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
      this.archiveInProgress = false;
    }
    await this.shipLogs(request, jobRunId, Buffer.concat(stdout), Buffer.concat(stderr));
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

  private async shipLogs(request: StartJobRunRequest, jobRunId: string, stdout: Buffer, stderr: Buffer): Promise<void> {
    const logUri = request.ConfigurationOverrides?.MonitoringConfiguration?.S3MonitoringConfiguration?.LogUri;
    if (!logUri || !/^s3a?:\/\//.test(logUri)) return;
    const base = `${logUri.replace(/\/+$/, '')}/applications/${request.ApplicationId}/jobs/${jobRunId}/SPARK_DRIVER`;
    if (!(await this.access.mayWrite(request.ExecutionRoleArn, `${base}/stdout.gz`))) return;
    try {
      writeAtomic(this.layout.uriToPath(`${base}/stdout.gz`), gzipSync(stdout));
      writeAtomic(this.layout.uriToPath(`${base}/stderr.gz`), gzipSync(stderr));
    } catch {
      // a missing logs bucket must not fail the job run (EMR Serverless does not fail it either)
    }
  }
}

/** The `.sync` output: the final job run, PascalCase like the integration's other outputs. */
export function describeJobRun(record: JobRunRecord, request: StartJobRunRequest, releaseLabel: string): Record<string, unknown> {
  const { total, billed } = jobRunUtilization(record.worker, record.durationSeconds);
  return {
    ApplicationId: record.applicationId,
    JobRunId: record.jobRunId,
    Arn: record.arn,
    Name: record.name,
    State: record.state,
    StateDetails: record.stateDetails,
    ReleaseLabel: releaseLabel,
    ExecutionRole: request.ExecutionRoleArn,
    CreatedAt: record.createdAt.toISOString(),
    UpdatedAt: record.endedAt.toISOString(),
    ...(record.startedAt ? { StartedAt: record.startedAt.toISOString() } : {}),
    EndedAt: record.endedAt.toISOString(),
    TotalExecutionDurationSeconds: Math.round(record.durationSeconds),
    QueuedDurationMilliseconds: record.queuedMilliseconds,
    ExecutionTimeoutMinutes: request.ExecutionTimeoutMinutes,
    Tags: request.Tags ?? {},
    BilledResourceUtilization: { VCPUHour: billed.vCPUHour, MemoryGBHour: billed.memoryGBHour, StorageGBHour: billed.storageGBHour },
    TotalResourceUtilization: { VCPUHour: total.vCPUHour, MemoryGBHour: total.memoryGBHour, StorageGBHour: total.storageGBHour },
    // the runner's own notes (driver log, exit status, CPU time measured); no AWS field
    Local: { logFile: record.logFile, exitCode: record.exitCode, cpuSeconds: round6(record.cpuSeconds) },
  };
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
    billedResourceUtilization: billed,
    totalResourceUtilization: total,
    tags: request?.Tags ?? {},
  };
}

function validateRequest(request: StartJobRunRequest): void {
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
}

function sparkHome(projectRoot: string): string {
  const lib = path.join(projectRoot, '.venv', 'lib');
  const python = existsSync(lib) ? require('node:fs').readdirSync(lib).find((d: string) => d.startsWith('python')) : undefined;
  return path.join(lib, python ?? 'python3.11', 'site-packages', 'pyspark');
}

function extractArchive(file: string, dir: string): void {
  const stamp = path.join(dir, '.extracted-from');
  const digest = createHash('sha256').update(readFileSync(file)).digest('hex');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
  if (file.endsWith('.zip')) execFileSync('unzip', ['-q', file, '-d', dir]);
  else execFileSync('tar', ['-xzf', file, '-C', dir]);
  writeFileSync(stamp, digest);
}

function newJobRunId(): string {
  // EMR Serverless job run ids: 16-20 lower-case alphanumerics
  return `00${randomBytes(9).toString('hex').slice(0, 16)}`;
}

function regionOf(arn: string): string {
  return arn.split(':')[3] || 'us-east-1';
}

function accountOf(arn: string): string {
  return arn.split(':')[4] || '000000000000';
}

function round6(n: number): number {
  return Math.round(n * 1e6) / 1e6;
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

/** The last Python/Java exception lines of a driver's stderr, like EMR Serverless' StateDetails. */
export function lastExceptions(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim());
  const found = lines.filter((l) => /^([A-Za-z_][\w.]*(Error|Exception)|pyspark\.errors\.[\w.]+)(: .*)?$/.test(l));
  const jobError = lines.filter((l) => /ERROR jobs\./.test(l)).map((l) => l.replace(/^.*ERROR /, ''));
  const picked = [...new Set([...jobError, ...found])].slice(-3);
  return picked.join('; ').slice(0, 1000);
}

export function statSafe(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
