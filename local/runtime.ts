import './polyfill';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { ExecutionError, StateMachine } from 'aws-local-stepfunctions';
import { CURRENT_MANIFEST_KEY, Manifest, parseManifest } from '../lib/jobs/manifest';
import { packageArtifacts, PackagedArtifacts } from './artifacts';
import { readLocalObject } from './s3/tree';
import { LocalStackDeployer } from './deploy';
import type { AccessReport } from './iam/access-log';
import { LocalAws } from './endpoint/local-aws';
import { LocalDeployment } from './deployment';
import { JobRunRecord, LocalEmrServerless, LocalSparkOptions } from './emr-adapter';
import { LocalLambdaHost } from './lambda-host';
import { LocalLayout } from './layout';
import { synthesize } from './synth';
import { databaseSecret, databaseStageContext, parseDatabaseUrl } from './database';
import { buildTaskHandlers, collectTaskStates } from './task-handlers';
import { parentStates, prepareDefinition } from './engine-bridges';
import { StepTracker } from './step-tracker';
import { publishToTopic, TopicNotFoundError } from './sns-topics';
import { NotFoundException as SNSNotFoundException } from '@aws-sdk/client-sns';
import { jobRunStateChangeEvent, LocalEventBus } from './event-rules';
import { schedulerOf } from './job-queue';
import { PayloadGuard } from './service-limits';

/** Options of a local runtime (one synthesized app "deployed" to one local directory tree). */
export interface LocalRuntimeOptions {
  /** Repository root. @default process.cwd() */
  readonly projectRoot?: string;
  /** Root of the local tree (`s3/`, `logs/`, `alerts.jsonl`, …). @default `<projectRoot>/.local` */
  readonly root?: string;
  /** An existing cloud assembly to use instead of synthesizing (e.g. `cdk.out`). */
  readonly assemblyDir?: string;
  /** CDK stage to synthesize. @default the `stage` context of cdk.json */
  readonly stage?: string;
  /** Extra CDK context for the synth. */
  readonly context?: Record<string, unknown>;
  /** Local Spark settings (master, driver memory, concurrency, extra environment). */
  readonly spark?: Partial<Omit<LocalSparkOptions, 'projectRoot'>>;
  /** Secret values by ARN, served to the handlers' Secrets Manager client and to jobs' `--db-secret-arn`. */
  readonly secrets?: Record<string, string>;
  /**
   * A PostgreSQL connection URL (`postgresql://user:password@host:port/db`): synthesize the app with the
   * database configured and serve its secret from this URL (database mode of news-enrichment).
   */
  readonly databaseUrl?: string;
  /** Which job artifacts to publish: a build of the working tree (default) or `npm run package`'s. */
  readonly artifacts?: 'host' | 'packaged';
  /** Progress callback for every state transition. */
  readonly onEvent?: (event: ProgressEvent) => void;
}

export type StepStatus = 'running' | 'succeeded' | 'failed' | 'caught' | 'retrying';

export interface StepRecord {
  readonly name: string;
  readonly type: string;
  status: StepStatus;
  readonly startedAt: number;
  endedAt?: number;
  durationMs?: number;
  attempts: number;
  error?: string;
  cause?: string;
  logFile?: string;
  /** Branch path for states inside a Parallel (`Parallel name`). */
  readonly parent?: string;
}

export interface ExecutionRecord {
  readonly stateMachine: string;
  readonly executionName: string;
  readonly executionArn: string;
  readonly input: unknown;
  status: 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  output?: unknown;
  error?: string;
  cause?: string;
  readonly startedAt: number;
  endedAt?: number;
  durationMs?: number;
  readonly steps: StepRecord[];
  readonly logDir: string;
  /** `$.results` of the output (or of the last state data seen), for summaries. */
  lastData?: unknown;
  /** The definition the execution ran (as deployed), for the report's graph. */
  readonly definition?: Record<string, unknown>;
  /** The EMR Serverless job runs of the execution's `.sync` tasks, in submission order. */
  jobRuns?: JobRunSpan[];
}

/** One job run of an execution: when it was submitted, left the queue and ended (epoch ms). */
export interface JobRunSpan {
  /** The Task state that started it. */
  readonly step: string;
  readonly jobRunId: string;
  readonly name: string;
  readonly state: 'SUCCESS' | 'FAILED' | 'CANCELLED';
  readonly stateDetails?: string;
  readonly submittedAt: number;
  /** When it left the queue (absent: it never started). */
  readonly startedAt?: number;
  readonly endedAt: number;
  readonly queuedMs: number;
}

export type ProgressEvent =
  | { kind: 'execution-started'; execution: ExecutionRecord }
  | { kind: 'step'; execution: ExecutionRecord; step: StepRecord }
  | { kind: 'execution-ended'; execution: ExecutionRecord };

export interface RunOptions {
  /** Execution name (`$$.Execution.Name`). @default `local-<timestamp>-<random>` */
  readonly executionName?: string;
  /** Who starts the execution (must be allowed `states:StartExecution`). @default the local operator */
  readonly startedBy?: string;
  readonly onEvent?: (event: ProgressEvent) => void;
}

/**
 * The deployed app on this machine: the synthesized templates resolved to local resources, the handlers'
 * AWS calls routed to the local tree, Spark steps run by local spark-submit. Create it once, run any number of
 * executions, then {@link close} it.
 */
export class LocalRuntime {
  readonly layout: LocalLayout;
  readonly deployment: LocalDeployment;
  readonly lambdas: LocalLambdaHost;
  readonly emr: LocalEmrServerless;
  /** The job artifacts synthesized into the app (`host` build or `npm run package`'s), when this runtime packaged them. */
  readonly artifacts?: PackagedArtifacts;
  /** The deploy lifecycle (custom resources run under their roles). */
  readonly deployer: LocalStackDeployer;
  readonly projectRoot: string;
  readonly aws: LocalAws;
  private readonly onEvent?: (event: ProgressEvent) => void;
  readonly executions: ExecutionRecord[] = [];
  /** The default event bus: job-run state changes → the app's EventBridge rules (e.g. the job-failure alert). */
  readonly events: LocalEventBus;

  /** Synthesizes (unless given an assembly), deploys locally and starts the local AWS (S3 store, endpoint). */
  static async create(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
    const projectRoot = path.resolve(options.projectRoot ?? process.cwd());
    const layout = new LocalLayout(options.root ?? path.join(projectRoot, '.local')).ensure();
    let assemblyDir = options.assemblyDir;
    const database = options.databaseUrl ? parseDatabaseUrl(options.databaseUrl) : undefined;
    let artifacts: PackagedArtifacts | undefined;
    if (!assemblyDir) {
      // The assembly lives inside the project (so handler sources resolve the project's node_modules); one per
      // configuration, so switching between lake and database mode does not re-synthesize each time.
      assemblyDir = path.join(projectRoot, '.local', database ? 'cdk.out-database' : 'cdk.out');
      artifacts = packageArtifacts(projectRoot, options.artifacts ?? 'host');
      const context = {
        ...(options.stage ? { stage: options.stage } : {}),
        ...(database ? databaseStageContext(projectRoot, database) : {}),
        artifactsDir: artifacts.dir,
        ...options.context,
      };
      synthesize({ projectRoot, outdir: assemblyDir, context });
    }
    const deployment = LocalDeployment.fromAssembly(assemblyDir, { projectRoot });
    const secrets = { ...(database ? databaseSecret(database) : {}), ...options.secrets };
    const runtime = await LocalRuntime.deploy(projectRoot, layout, deployment, { ...options, secrets }, artifacts);
    try {
      await runtime.deployer.deploy();
    } catch (error) {
      await runtime.close();
      throw error;
    }
    return runtime;
  }

  /** A local deployment of an already-read assembly: starts the local AWS with the assembly's IAM. */
  static async deploy(projectRoot: string, layout: LocalLayout, deployment: LocalDeployment, options: LocalRuntimeOptions = {}, artifacts?: PackagedArtifacts): Promise<LocalRuntime> {
    deployment.provision(layout);
    const jobRuns: { emr?: LocalEmrServerless } = {};
    const aws = await LocalAws.start({
      projectRoot,
      layout,
      deployment,
      secrets: options.secrets,
      getJobRun: (applicationId, jobRunId) => jobRuns.emr?.getJobRun(applicationId, jobRunId),
      listJobRunAttempts: (applicationId, jobRunId) => jobRuns.emr?.listJobRunAttempts(applicationId, jobRunId),
      publish: (message) => {
        try {
          return publishToTopic(deployment, layout.alertsFile, message, { publisher: message.publisher }).messageId;
        } catch (error) {
          if (error instanceof TopicNotFoundError) throw new SNSNotFoundException({ message: error.message, $metadata: { httpStatusCode: 404 } });
          throw error;
        }
      },
    });
    const runtime = new LocalRuntime(projectRoot, layout, deployment, aws, options, artifacts);
    jobRuns.emr = runtime.emr;
    return runtime;
  }

  private constructor(projectRoot: string, layout: LocalLayout, deployment: LocalDeployment, aws: LocalAws, options: LocalRuntimeOptions, artifacts?: PackagedArtifacts) {
    this.projectRoot = projectRoot;
    this.layout = layout;
    this.deployment = deployment;
    this.aws = aws;
    this.onEvent = options.onEvent;
    this.lambdas = new LocalLambdaHost(deployment.region, (fn) => aws.credentialOf(fn.roleArn, fn.functionName));
    this.emr = new LocalEmrServerless(
      layout,
      new Map(deployment.applications.map((a) => [a.applicationId, { releaseLabel: a.releaseLabel, name: a.name, scheduler: schedulerOf(a) }])),
      { projectRoot, ...options.spark },
      aws.jobRunAccess(),
    );
    this.artifacts = artifacts;
    this.deployer = new LocalStackDeployer(deployment, layout, this.lambdas, aws.certificate);
    this.events = new LocalEventBus({
      deployment,
      authorize: (request) => aws.authorizer.authorize(request).then((r) => ({ allowed: r.allowed, reason: r.denied?.reason })),
      invoke: (functionArn, event) => this.lambdas.invoke(deployment.findFunction(functionArn)!, event),
      deliveryLog: (line) => appendFileSync(path.join(layout.root, 'events.jsonl'), `${JSON.stringify(line)}\n`),
    });
    this.emr.onJobRunEnded = (record, releaseLabel) => this.events.put(jobRunStateChangeEvent(record, releaseLabel, deployment));
  }

  /** The bucket a function environment variable names (e.g. `LAKE_BUCKET`). */
  bucketFromEnv(variable: string): string {
    for (const fn of this.deployment.functions) {
      const value = fn.environment[variable];
      if (value) return value;
    }
    throw new Error(`No function of the synthesized app has ${variable} in its environment`);
  }

  /** `PutObject` as the local operator (an upload as `aws s3 cp` would make it), authorized like any call. */
  async putObjectAsOperator(bucket: string, key: string, body: Buffer | string): Promise<void> {
    const s3 = new S3Client({ region: this.deployment.region, credentials: this.aws.operator });
    try {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    } finally {
      s3.destroy();
    }
  }

  /** The manifest the artifacts custom resource published (`manifests/current.json` of the artifacts bucket). */
  deployedManifest(): Manifest {
    const uri = `s3://${this.bucketFromEnv('ARTIFACTS_BUCKET')}/${CURRENT_MANIFEST_KEY}`;
    return parseManifest(JSON.parse(readLocalObject(this.layout, uri).toString('utf8')), uri);
  }

  /** Per principal: what its calls used, and the granted statements no call exercised (least-privilege view). */
  accessReport(): AccessReport {
    return this.aws.authorizer.report();
  }

  /** Stops the local AWS, restores the AWS SDK clients and writes `<root>/access-report.json`. */
  async close(): Promise<void> {
    await this.events.drain();
    writeFileSync(path.join(this.layout.root, 'access-report.json'), `${JSON.stringify(this.accessReport(), null, 2)}\n`);
    await this.aws.close();
  }

  /** Runs one execution of a state machine to its end. Never throws for a failed execution: see `status`. */
  async run(pipeline: string, input: unknown, options: RunOptions = {}): Promise<ExecutionRecord> {
    const sm = this.deployment.stateMachine(pipeline);
    await this.aws.assertAuthorized({ principalArn: options.startedBy ?? this.aws.authorizer.operatorArn, operation: 'SFN.StartExecution', params: { stateMachineArn: sm.arn } });
    const executionName = options.executionName ?? defaultExecutionName();
    const executionArn = `arn:aws:states:${this.deployment.region}:${this.deployment.accountId}:execution:${sm.name}:${executionName}`;
    const logDir = path.join(this.layout.logsRoot, sm.name, executionName);
    mkdirSync(logDir, { recursive: true });
    const record: ExecutionRecord = {
      stateMachine: sm.name,
      executionName,
      executionArn,
      input,
      status: 'RUNNING',
      startedAt: Date.now(),
      steps: [],
      logDir,
      definition: sm.definition,
    };
    this.executions.push(record);
    const emit = (event: ProgressEvent) => {
      this.onEvent?.(event);
      options.onEvent?.(event);
    };
    emit({ kind: 'execution-started', execution: record });

    const logFiles = new Map<string, string>();
    const logFileFor = (stateName: string) => {
      let file = logFiles.get(stateName);
      if (!file) {
        file = path.join(logDir, `${String(logFiles.size + 1).padStart(2, '0')}-${slug(stateName)}.log`);
        logFiles.set(stateName, file);
      }
      return file;
    };
    const definition = prepareDefinition(sm);
    const machine = new StateMachine(definition as never, { validationOptions: { checkPaths: true, checkArn: true } });
    // Step Functions' payload quota: a violation ends the execution (States.DataLimitExceeded, not catchable)
    const payloads = new PayloadGuard();
    const handlers = buildTaskHandlers(definition, {
      payloads,
      deployment: this.deployment,
      authorize: (operation, params) => this.aws.assertAuthorized({ principalArn: sm.roleArn, operation, params, sessionName: executionName }),
      lambdas: this.lambdas,
      emr: this.emr,
      alertsFile: this.layout.alertsFile,
      executionArn,
      logFileFor,
    });
    const execution = machine.run(input as never, {
      overrides: { taskResourceLocalHandlers: handlers as never },
      context: {
        // a first run (no redrive): RedriveCount 0, which aws-local-stepfunctions 3.0 does not provide itself
        Execution: { Id: executionArn, Name: executionName, RoleArn: sm.roleArn, RedriveCount: 0 },
        StateMachine: { Id: sm.arn, Name: sm.name },
      },
    });

    payloads.onFailure(() => execution.abort());
    const steps = new StepTracker(record, parentStates(definition), logFiles, (step) => emit({ kind: 'step', execution: record, step }));
    const consume = (async () => {
      for await (const event of execution.eventLogs as AsyncIterable<Record<string, any>>) {
        payloads.observe(event);
        steps.observe(event);
      }
    })();

    try {
      record.output = await execution.result;
      record.status = 'SUCCEEDED';
    } catch (error) {
      record.status = 'FAILED';
      if (error instanceof ExecutionError) {
        const inner = (error as unknown as { cause?: { name?: string; message?: string; cause?: unknown } }).cause;
        record.error = inner?.name ?? error.name;
        record.cause = typeof inner?.cause === 'string' ? inner.cause : inner?.message ?? error.message;
      } else {
        record.error = (error as Error).name;
        record.cause = (error as Error).message;
      }
    }
    await consume;
    // the rules' targets of this execution's job-run events (an alert of its failed job) have run
    await this.events.drain();
    if (payloads.failure) Object.assign(record, { status: 'FAILED', output: undefined, error: payloads.failure.error, cause: payloads.failure.cause });
    // Step Functions stops the job runs of an ended execution (e.g. the other branch of a failed Parallel).
    this.emr.cancelScope(executionArn);
    record.endedAt = Date.now();
    record.durationMs = record.endedAt - record.startedAt;
    steps.finishRunning(record.endedAt);
    record.jobRuns = jobRunSpans(this.emr.history, logFiles);
    const file = path.join(this.layout.executionsRoot, sm.name, `${executionName}.json`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
    emit({ kind: 'execution-ended', execution: record });
    return record;
  }

  /** Task states of a pipeline and what runs them (for `--dry-run` / help). */
  describe(pipeline: string): Array<{ state: string; resource: string }> {
    return collectTaskStates(this.deployment.stateMachine(pipeline).definition).map(({ name, resource }) => ({ state: name, resource }));
  }
}

/** The job runs whose driver log is one of this execution's state logs (a run cancelled as it ended may come later). */
export function jobRunSpans(history: readonly JobRunRecord[], logFiles: ReadonlyMap<string, string>): JobRunSpan[] {
  const stateOf = new Map([...logFiles].map(([state, file]) => [file, state]));
  return history
    .filter((r) => stateOf.has(r.logFile))
    .map((r) => ({
      step: stateOf.get(r.logFile)!,
      jobRunId: r.jobRunId,
      name: r.name,
      state: r.state,
      ...(r.stateDetails ? { stateDetails: r.stateDetails } : {}),
      submittedAt: r.createdAt.getTime(),
      ...(r.startedAt ? { startedAt: r.startedAt.getTime() } : {}),
      endedAt: r.endedAt.getTime(),
      queuedMs: r.queuedMilliseconds,
    }))
    .sort((a, b) => a.submittedAt - b.submittedAt);
}

function defaultExecutionName(): string {
  const ts = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  return `local-${ts}-${randomBytes(2).toString('hex')}`;
}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60);
}
