import { Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { buildTarget } from '../config/emr-releases';
import { type StageConfig, substituteJobArgPlaceholders } from '../config/stage-config';
import { AlertsTopic } from '../constructs/alerts-topic';
import { DataLakeStorage } from '../constructs/data-lake-storage';
import { JobArtifacts } from '../constructs/job-artifacts';
import { JobExecutionRole } from '../constructs/job-execution-role';
import { JobSchedules } from '../constructs/job-schedules';
import { PipelineDatabase } from '../constructs/pipeline-database';
import { PipelineFunction } from '../constructs/pipeline-function';
import { acknowledgeIamWildcards } from '../constructs/nag-acknowledgements';
import { PipelineMonitoring } from '../constructs/pipeline-monitoring';
import { PipelineSchedules } from '../constructs/pipeline-schedules';
import { PipelineStateMachine } from '../constructs/pipeline-state-machine';
import { SparkApplication } from '../constructs/spark-application';
import { JOB_RUN_TAG_KEYS } from '../jobs/job-request-builder';
import { PIPELINES } from '../pipelines';
import { type AslGraph, aslFromDefinitionString, checkStageCapacity } from '../pipelines/capacity';
import { MODEL_FAMILIES, NAMESPACE_ROOT, type PipelineName, PROMOTABLE_POINTER_KEYS, planEnvironmentFor } from '../pipelines/common';
import type { PipelineFunctions } from '../pipelines/kit';

export interface PlatformStackProps extends StackProps {
  readonly config: StageConfig;
  /**
   * Directory holding the output of `npm run package` (`manifest.json` and its files).
   * @default <repository>/artifacts/targets/<the stage's build target> when built, else <repository>/artifacts
   */
  readonly artifactsDir?: string;
  /**
   * Accept a host build of the artifacts (`npm run package -- --architecture host`) instead of failing synth: only
   * for an app run on the build machine. Any other build must match the stage's release, Python and architecture.
   * @default false
   */
  readonly acceptHostArtifacts?: boolean;
}

/** Physical name of a pipeline's state machine (it appears in result URIs: `runs/<state machine>/…`). */
export const stateMachineName = (stage: string, pipeline: PipelineName): string => `emr-ml-${stage}-${pipeline}`;

/**
 * One stage of the platform: storage (buckets retained on delete outside dev), alerts topic, optional database +
 * VPC, the EMR Serverless Spark application and job role, the pipeline Lambdas, the four state machines, their
 * schedules, and monitoring. One stack, so every IAM policy references its buckets directly (no exports that
 * would pin the buckets) and the local runner reads a single template.
 */
export class PlatformStack extends Stack {
  public readonly storage: DataLakeStorage;
  public readonly alerts: AlertsTopic;
  public readonly sparkApplication: SparkApplication;
  public readonly jobRole: JobExecutionRole;
  /** The job artifacts (`npm run package`) and the custom resource publishing them with their manifest. */
  public readonly artifacts: JobArtifacts;
  public readonly database?: PipelineDatabase;
  public readonly functions: PipelineFunctions;
  /**
   * Starts one standalone job run (EventBridge Scheduler target): input `{job, step, args, overrides?,
   * schedule: {name, scheduledTime}}`, the same builder and environment as `build-job-request`.
   */
  public readonly startJobRun: lambda.IFunction;
  /** Standalone job schedules of `stages.<stage>.schedules.jobs`. */
  public readonly jobSchedules: JobSchedules;
  public readonly stateMachines: Record<PipelineName, PipelineStateMachine>;
  public readonly schedules: PipelineSchedules;
  public readonly monitoring: PipelineMonitoring;

  constructor(scope: Construct, id: string, props: PlatformStackProps) {
    super(scope, id, { terminationProtection: props.config.stage !== 'dev', ...props });
    const { config } = props;
    const storage = new DataLakeStorage(this, 'Storage', {
      destroyOnDelete: config.destroyDataOnDelete,
      logRetentionDays: config.logRetentionDays,
    });
    this.storage = storage;
    const logRetention = config.logRetentionDays as logs.RetentionDays;
    const logRemovalPolicy = config.destroyDataOnDelete ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;

    this.alerts = new AlertsTopic(this, 'Alerts', { email: config.alertEmail });

    const db = config.database;
    if (db.mode === 'existing') {
      this.database = new PipelineDatabase(this, 'Database', db);
    } else if (db.mode === 'provisioned') {
      this.database = new PipelineDatabase(this, 'Database', {
        mode: 'provisioned',
        databaseName: db.databaseName,
        minCapacityAcu: db.minCapacityAcu,
        maxCapacityAcu: db.maxCapacityAcu,
        flowLogsBucket: storage.logsBucket,
        deletionProtection: !config.destroyDataOnDelete,
        removalPolicy: config.destroyDataOnDelete ? RemovalPolicy.DESTROY : RemovalPolicy.SNAPSHOT,
        availabilityZoneIds: db.availabilityZoneIds,
      });
    }

    this.sparkApplication = new SparkApplication(this, 'Spark', {
      applicationName: `emr-ml-${config.stage}`,
      releaseLabel: config.releaseLabel,
      architecture: config.architecture,
      maximumCapacity: config.maximumCapacity,
      idleTimeoutMinutes: config.idleTimeoutMinutes,
      maxConcurrentRuns: config.spark.maxConcurrentRuns,
      queueTimeoutMinutes: config.spark.queueTimeoutMinutes,
      logsBucket: storage.logsBucket,
      logPrefix: storage.emrLogPrefix,
      network: this.database
        ? { subnets: this.database.subnets, securityGroups: [this.database.clientSecurityGroup] }
        : undefined,
    });

    this.jobRole = new JobExecutionRole(this, 'JobRole', {
      applicationArn: this.sparkApplication.applicationArn,
      databaseSecret: this.database?.secret,
      access: [
        {
          bucket: storage.lakeBucket,
          read: ['bronze/'],
          // drift merge consumes (moves) processed incoming batches; NAMESPACE_ROOT (smoke/): namespaced runs
          // read their inputs and write all their datasets there, never in the stage's tiers
          readWrite: ['bronze/netflix/stream/', 'silver/', 'gold/', 'runs/', 'tmp/', NAMESPACE_ROOT],
        },
        { bucket: storage.modelsBucket, readWrite: [...MODEL_FAMILIES.map((f) => `${f}/`), NAMESPACE_ROOT] },
        { bucket: storage.artifactsBucket, read: ['artifacts/', 'manifests/'] },
        { bucket: storage.logsBucket, writeOnly: [storage.emrLogPrefix] },
      ],
    });

    // ---- Lambdas -------------------------------------------------------------------------------------
    const fnDefaults = {
      architecture: config.lambdaArchitecture === 'ARM64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64,
      logRetention,
      logRemovalPolicy,
    };

    // Publishes the packaged artifacts + manifest at deploy time. The job-request Lambda reads the immutable
    // manifests/<sha256>.json of this build (manifests/current.json before `npm run package` has run).
    const artifacts = new JobArtifacts(this, 'JobArtifacts', {
      bucket: storage.artifactsBucket,
      artifactsDir: props.artifactsDir,
      // the packaged manifest must be built for this stage's release, Python and CPU (release catalogue)
      target: { stage: config.stage, ...buildTarget(config.releaseLabel, config.pythonVersion, config.architecture) },
      acceptHostBuild: props.acceptHostArtifacts,
      removalPolicy: config.destroyDataOnDelete ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN,
      ...fnDefaults,
    });
    this.artifacts = artifacts;
    const fn = (id: string, handler: string, extra: Partial<ConstructorParameters<typeof PipelineFunction>[2]> = {}) =>
      new PipelineFunction(this, id, { handler, ...fnDefaults, ...extra }).function;

    const planEnvironment = planEnvironmentFor(config, {
      lakeBucket: storage.lakeBucket.bucketName,
      modelsBucket: storage.modelsBucket.bucketName,
    });
    const validateInput = fn('ValidateInput', 'validate-input', {
      environment: { STAGE: config.stage, PLAN_ENVIRONMENT: Stack.of(this).toJsonString(planEnvironment) },
    });
    // CONTRACTS.md "Job-request Lambda": the environment of every Lambda that builds StartJobRun requests.
    const jobRunEnvironment = {
      STAGE: config.stage,
      APPLICATION_ID: this.sparkApplication.applicationId,
      JOB_ROLE_ARN: this.jobRole.roleArn,
      ARTIFACTS_BUCKET: storage.artifactsBucket.bucketName,
      LOGS_BUCKET: storage.logsBucket.bucketName,
      LAKE_BUCKET: storage.lakeBucket.bucketName,
      MODELS_BUCKET: storage.modelsBucket.bucketName,
      MANIFEST_KEY: artifacts.manifestKey,
      JOB_TIMEOUT_MINUTES: String(config.jobTimeoutMinutes),
      ...(this.database ? { DB_SECRET_ARN: this.database.secret.secretArn } : {}),
    };
    const buildJobRequest = fn('BuildJobRequest', 'build-job-request', { environment: jobRunEnvironment });
    grantObjects(buildJobRequest, storage.artifactsBucket, { read: ['manifests/'] });
    // The manifest it names is written by the custom resource: update that first.
    buildJobRequest.node.addDependency(artifacts);

    // Standalone (scheduled) job runs: invoked asynchronously by EventBridge Scheduler; a run that still fails
    // after Lambda's retries is published to the alerts topic. Throttled StartJobRun calls are retried inside
    // (same ClientToken), so the timeout leaves room for them.
    const startJobRun = new PipelineFunction(this, 'StartJobRun', {
      handler: 'start-job-run',
      ...fnDefaults,
      environment: jobRunEnvironment,
      timeout: Duration.minutes(2),
      asyncFailureTopic: this.alerts.topic,
    }).function;
    grantObjects(startJobRun, storage.artifactsBucket, { read: ['manifests/'] });
    // Its runs carry the builder's tags plus the `overrides.tags` of the configured schedules (TagResource is
    // granted for exactly those keys).
    const scheduleTagKeys = Object.values(config.schedules.jobs).flatMap((job) => Object.keys(job.overrides?.tags ?? {}));
    this.sparkApplication.grantStartJobRun(startJobRun, this.jobRole, { tagKeys: [...JOB_RUN_TAG_KEYS, ...scheduleTagKeys] });
    startJobRun.node.addDependency(artifacts);
    this.startJobRun = startJobRun;

    const readResult = fn('ReadResult', 'read-result', { environment: { LAKE_BUCKET: storage.lakeBucket.bucketName } });
    grantObjects(readResult, storage.lakeBucket, { read: ['runs/'] });

    const evaluationGate = fn('EvaluationGate', 'evaluation-gate');

    const promoteModel = fn('PromoteModel', 'promote-model', { environment: { MODELS_BUCKET: storage.modelsBucket.bucketName } });
    // The stage's pointers and the recommender pointer of a namespaced (smoke) run — the keys the handler accepts.
    grantObjects(promoteModel, storage.modelsBucket, { write: PROMOTABLE_POINTER_KEYS });

    const checkArticles = fn('CheckArticles', 'check-articles', {
      environment: {
        LAKE_BUCKET: storage.lakeBucket.bucketName,
        ...(this.database ? { DB_SECRET_ARN: this.database.secret.secretArn } : {}),
      },
      vpc: this.database
        ? { vpc: this.database.vpc, subnets: this.database.subnets, securityGroups: [this.database.clientSecurityGroup] }
        : undefined,
    });
    // lake mode reads only the Delta logs of the news tables (bronze/news/<name>/, gold/news/<name>/), never their data
    grantObjects(checkArticles, storage.lakeBucket, { read: ['bronze/news/*/_delta_log/', 'gold/news/*/_delta_log/'] });
    this.database?.grantReadSecret(checkArticles);

    const ingestTaxiMonth = fn('IngestTaxiMonth', 'ingest-taxi-month', {
      environment: { LAKE_BUCKET: storage.lakeBucket.bucketName },
      timeout: Duration.minutes(15),
      memorySize: 1024,
    });
    grantObjects(ingestTaxiMonth, storage.lakeBucket, { read: ['bronze/taxi/'], write: ['bronze/taxi/'], multipart: true });

    // Prices each job run after its .sync task and adds the record to the job's result JSON.
    const recordJobCost = fn('RecordJobCost', 'record-job-cost', {
      environment: { ARCHITECTURE: config.architecture },
    });
    this.sparkApplication.grantReadJobRuns(recordJobCost);
    grantObjects(recordJobCost, storage.lakeBucket, { read: ['runs/'], write: ['runs/'] });

    acknowledgeIamWildcards(this, [
      {
        finding: /^Resource::<StartJobRunFunction[0-9A-F]+\.Arn>:\*$/,
        reason: 'The job schedules\' Scheduler role may invoke the start-job-run Lambda (and its versions, "<arn>:*", as the Scheduler Lambda target grants it) and nothing else.',
      },
      {
        finding: /^Resource::<Spark[0-9A-F]+\.Arn>\/jobruns\/\*$/,
        reason: 'record-job-cost (GetJobRun) and start-job-run (TagResource at creation, limited to its tag keys, and GetJobRun/CancelJobRun of the runs it starts) act on job runs of the one pipeline application only; job-run ids are generated at run time.',
      },
      {
        finding: /^Resource::<StorageModels[0-9A-F]+\.Arn>\/smoke\/\*\/recommender\/current\.json$/,
        reason: 'promote-model may write the recommender pointer of a namespaced smoke run (smoke/<id>/recommender/current.json; ids are chosen per run) besides the stage pointers; nothing else under smoke/.',
      },
      {
        finding: /^Resource::.+\/(runs|manifests|bronze\/taxi|(bronze|gold)\/news\/\*\/_delta_log)\/\*$/,
        reason:
          'Handler object access is limited to one key prefix (read-result, record-job-cost: runs/, build-job-request, start-job-run: manifests/, ' +
          'check-articles: the Delta logs bronze|gold/news/<table>/_delta_log/, ingest-taxi-month: bronze/taxi/) whose keys are generated per run/month/commit.',
      },
    ]);

    this.functions = { validateInput, buildJobRequest, readResult, evaluationGate, promoteModel, checkArticles, ingestTaxiMonth, recordJobCost };

    // ---- State machines ------------------------------------------------------------------------------
    const machine = (id: string, name: PipelineName) =>
      new PipelineStateMachine(this, id, {
        pipeline: PIPELINES[name],
        functions: this.functions,
        alerts: this.alerts,
        sparkApplication: this.sparkApplication,
        jobRole: this.jobRole,
        jobTimeout: Duration.minutes(config.jobTimeoutMinutes),
        stateMachineName: stateMachineName(config.stage, name),
        logRetention,
        logRemovalPolicy,
      });
    this.stateMachines = {
      'recommender-training': machine('RecommenderTraining', 'recommender-training'),
      'drift-retrain': machine('DriftRetrain', 'drift-retrain'),
      'news-enrichment': machine('NewsEnrichment', 'news-enrichment'),
      'taxi-medallion': machine('TaxiMedallion', 'taxi-medallion'),
    };
    // R1: every group of job runs a state machine (or a job schedule) runs at once must fit the account's vCPU
    // quota and the application's maximumCapacity at its widest; synth fails naming the group otherwise.
    const definitionOf = (m: PipelineStateMachine) =>
      aslFromDefinitionString(this.resolve((m.stateMachine.node.defaultChild as sfn.CfnStateMachine).definitionString));
    checkStageCapacity(
      config,
      Object.fromEntries(Object.entries(this.stateMachines).map(([name, m]) => [name, definitionOf(m)])) as Record<PipelineName, AslGraph>,
      (pipeline) => stateMachineName(config.stage, pipeline),
    );

    // ---- Schedules -----------------------------------------------------------------------------------
    const s = config.schedules;
    this.schedules = new PipelineSchedules(this, 'Schedules', {
      schedules: [
        {
          id: 'NewsEnrichmentHourly',
          stateMachine: this.stateMachines['news-enrichment'].stateMachine,
          expression: s.newsEnrichment.expression ?? 'rate(1 hour)',
          enabled: s.newsEnrichment.enabled ?? s.enabled,
          input: s.newsEnrichment.input,
          description: 'news-enrichment: enrich articles that still miss topic/sentiment/embedding',
        },
        {
          id: 'DriftRetrainDaily',
          stateMachine: this.stateMachines['drift-retrain'].stateMachine,
          expression: s.driftRetrain.expression ?? 'cron(0 3 * * ? *)',
          enabled: s.driftRetrain.enabled ?? s.enabled,
          input: s.driftRetrain.input,
          description: 'drift-retrain: process new rating batches, retrain on drift',
        },
      ],
    });

    this.jobSchedules = new JobSchedules(this, 'JobSchedules', {
      startJobRun,
      schedules: Object.entries(s.jobs).map(([key, job]) => ({
        id: `Job-${key}`,
        scheduleName: `emr-ml-${config.stage}-${key}`,
        expression: job.expression,
        enabled: job.enabled ?? s.enabled,
        job: job.job,
        step: job.step ?? key,
        args: substituteJobArgPlaceholders(job.args, {
          lakeBucket: storage.lakeBucket.bucketName,
          modelsBucket: storage.modelsBucket.bucketName,
        }) as Record<string, unknown>,
        overrides: job.overrides,
      })),
    });

    // ---- Monitoring ----------------------------------------------------------------------------------
    // The job-run FAILED rule's target: an alert naming the cause (stateDetails, the driver's stderr tail, where
    // the log is, the emrpipe command to read it). Invoked asynchronously by EventBridge; a failing invocation
    // still reaches the alerts topic through its on-failure destination.
    const notifyJobFailureConstruct = new PipelineFunction(this, 'NotifyJobFailure', {
      handler: 'notify-job-failure',
      ...fnDefaults,
      environment: { STAGE: config.stage, ALERTS_TOPIC_ARN: this.alerts.topic.topicArn },
      asyncFailureTopic: this.alerts.topic,
    });
    const notifyJobFailure = notifyJobFailureConstruct.function;
    this.sparkApplication.grantReadJobRuns(notifyJobFailure);
    grantObjects(notifyJobFailure, storage.logsBucket, { read: ['emr/'] });
    this.alerts.grantPublish(notifyJobFailure);
    acknowledgeIamWildcards(notifyJobFailureConstruct, [
      {
        finding: /^Resource::<StorageLogs[0-9A-F]+\.Arn>\/emr\/\*$/,
        reason: 'notify-job-failure reads the driver log of the failed run under the EMR log prefix (emr/applications/<app>/jobs/<run>/…); run ids are generated at run time.',
      },
      {
        finding: /^Resource::<Spark[0-9A-F]+\.Arn>\/jobruns\/\*$/,
        reason: 'notify-job-failure reads (GetJobRun) the failed run of the one pipeline application named by the event; run ids are generated at run time.',
      },
    ]);

    this.monitoring = new PipelineMonitoring(this, 'Monitoring', {
      alerts: this.alerts,
      jobFailureHandler: notifyJobFailure,
      sparkApplication: this.sparkApplication,
      dashboardName: `emr-ml-${config.stage}`,
      stateMachines: Object.fromEntries(Object.entries(this.stateMachines).map(([k, v]) => [k, v.stateMachine])),
    });
  }
}

/**
 * Least-privilege S3 access for a handler: `GetObject` (+ `ListBucket` limited by `s3:prefix`, so a missing key
 * reads as NoSuchKey, not AccessDenied) under `read` prefixes; `PutObject` on `write` keys or prefixes (a
 * trailing `/` means a prefix).
 */
function grantObjects(
  fn: lambda.IFunction,
  bucket: s3.IBucket,
  access: { readonly read?: string[]; readonly write?: string[]; readonly multipart?: boolean },
): void {
  const objects = (keys: string[]) => keys.map((k) => bucket.arnForObjects(k.endsWith('/') ? `${k}*` : k));
  const read = access.read ?? [];
  const write = access.write ?? [];
  if (read.length > 0) {
    fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: objects(read) }));
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': read.map((p) => `${p}*`) } },
      }),
    );
  }
  if (write.length > 0) {
    const actions = ['s3:PutObject', ...(access.multipart ? ['s3:AbortMultipartUpload', 's3:ListMultipartUploadParts'] : [])];
    fn.addToRolePolicy(new iam.PolicyStatement({ actions, resources: objects(write) }));
  }
}
