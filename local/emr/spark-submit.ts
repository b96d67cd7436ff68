import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseSparkSubmitParameters } from '../../lib/jobs/job-request-builder';
import { LocalCredential } from '../endpoint/credentials';
import { LoopbackCertificate } from '../endpoint/tls';
import { LocalLayout } from '../layout';
import { isImagePath, localImageFile } from './image-files';
import { accountOf, JobRunFailedError, regionOf, StartJobRunRequest } from './job-run';

/**
 * A StartJobRun request as a local `spark-submit`: the entry point, arguments and Spark properties that apply
 * locally, the execution role's session in the environment, `s3://` as Hadoop S3A against the local endpoint,
 * the request's archives unpacked into the run's directory, and the driver JVM started fast (class-data sharing).
 */
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

/**
 * Spark properties the local runner adds to every job run, so the run's event log (`<local tree>/spark-events/`)
 * names the job run it belongs to (history-server.ts, `emrpipe --local ui`). Jobs never read them.
 */
export const JOB_RUN_PROPERTIES = {
  jobRunId: 'spark.localRunner.jobRunId',
  applicationId: 'spark.localRunner.applicationId',
  stateMachine: 'spark.localRunner.stateMachine',
  execution: 'spark.localRunner.execution',
} as const;

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

export class SparkSubmitCommand {
  private archiveInProgress = false;
  private archivePath?: string;

  constructor(
    private readonly layout: LocalLayout,
    private readonly options: LocalSparkOptions,
    private readonly access: JobRunAccess,
  ) {}

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
      if (isImagePath(uri)) return localImageFile(projectRoot, uri);
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
    // event logs for Spark's History Server (`emrpipe --local ui`), as EMR Serverless keeps them for its Spark UI;
    // uncompressed, so the CLI can read which job run a log belongs to from the properties below
    const eventsDir = path.join(this.layout.root, 'spark-events');
    mkdirSync(eventsDir, { recursive: true });
    if (!has('spark.eventLog.enabled')) conf.push(['spark.eventLog.enabled', 'true']);
    if (!has('spark.eventLog.dir')) conf.push(['spark.eventLog.dir', pathToFileURL(eventsDir).href]);
    if (!has('spark.eventLog.compress')) conf.push(['spark.eventLog.compress', 'false']);
    conf.push([JOB_RUN_PROPERTIES.jobRunId, jobRunId], [JOB_RUN_PROPERTIES.applicationId, request.ApplicationId]);
    if (request.Tags?.stateMachine) conf.push([JOB_RUN_PROPERTIES.stateMachine, request.Tags.stateMachine]);
    if (request.Tags?.execution) conf.push([JOB_RUN_PROPERTIES.execution, request.Tags.execution]);
    conf.push(['spark.driver.memory', this.options.driverMemory ?? '2g']);
    const trust = this.access.certificate;
    const javaOptions = [
      `-Djava.io.tmpdir=${path.join(cwd, 'tmp')}`,
      `-Djavax.net.ssl.trustStore=${trust.trustStore}`,
      `-Djavax.net.ssl.trustStorePassword=${trust.trustStorePassword}`,
      '-Djavax.net.ssl.trustStoreType=PKCS12',
    ];
    if (this.options.fastStartup ?? true) {
      // Start-up only (one small heap, the class-data archive). The JIT tiers and the thread stack stay the JVM's
      // defaults, as on EMR Serverless: a lineage too deep for EMR's 1 MiB stack overflows here too.
      javaOptions.push('-XX:+UseSerialGC', '-Xshare:auto');
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

  /** The run that was making the class-data archive has ended (it is renamed into place or dropped). */
  archiveFinished(): void {
    this.archiveInProgress = false;
  }
}

/** The pinned pyspark's SPARK_HOME (`.venv/lib/python3.x/site-packages/pyspark`: bin/spark-class, jars/). */
export function sparkHome(projectRoot: string): string {
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

