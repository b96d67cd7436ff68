import { Duration } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { type PipelineName, stepName } from './common';

/** The Lambda handlers a pipeline definition may call (see CONTRACTS.md "Other Lambdas"). */
export interface PipelineFunctions {
  readonly validateInput: lambda.IFunction;
  readonly buildJobRequest: lambda.IFunction;
  readonly readResult: lambda.IFunction;
  readonly evaluationGate: lambda.IFunction;
  readonly promoteModel: lambda.IFunction;
  readonly checkArticles: lambda.IFunction;
  readonly ingestTaxiMonth: lambda.IFunction;
  readonly recordJobCost: lambda.IFunction;
}

export interface PipelineKitProps {
  readonly pipeline: PipelineName;
  readonly functions: PipelineFunctions;
  /** Topic the failure path publishes to. */
  readonly alertsTopic: sns.ITopic;
  /** The job's own execution timeout (StartJobRun `ExecutionTimeoutMinutes`). */
  readonly jobTimeout: Duration;
  /**
   * How long a run may wait in the application's queue (`schedulerConfiguration.queueTimeoutMinutes`) before its
   * own execution timeout starts.
   */
  readonly queueTimeout: Duration;
  /**
   * Time the `.sync` task waits beyond queue + job timeout (the application starting, the run being scheduled,
   * EMR Serverless cancelling a run that timed out), so EMR Serverless always ends the run first and the task sees
   * its clear failure — Step Functions never cancels a run that is still queued or working.
   * @default Duration.minutes(15)
   */
  readonly startAllowance?: Duration;
}

/** The EMR Serverless optimized integration, run-a-job pattern (waits for SUCCESS / FAILED / CANCELLED). */
export const START_JOB_RUN_SYNC = 'arn:aws:states:::emr-serverless:startJobRun.sync';

/** Transient Lambda invoke errors (the Step Functions recommended set). */
export const LAMBDA_TRANSIENT_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
];

/** Throttling / transient errors of the EMR Serverless API calls made by the `.sync` integration. */
export const EMR_TRANSIENT_ERRORS = [
  'EMRServerless.ThrottlingException',
  'EMRServerless.InternalServerException',
  'EMRServerless.ServiceQuotaExceededException',
];


/**
 * Builds the states a pipeline definition is made of, so each pipeline file describes only its flow.
 * Conventions of the state data (JSONPath):
 * - `$.plan`: the validated plan (output of `validate-input`)
 * - `$.work`: scratch space of the current step (job request, runtime args)
 * - `$.results.<stepKey>`: parsed result JSON of a Spark step (Parallel groups: `$.results.<group>.<stepKey>`)
 * - `$.costs.<stepKey>`: cost record of a Spark step's job run (flat, also for Parallel groups)
 * - `$.error`: the caught error (`Error`, `Cause`) on the failure path
 */
export class PipelineKit {
  /** aws-cdk-lib's Step Functions module, so pipeline files need only a type import of it. */
  public readonly sfn = sfn;
  public readonly pipeline: PipelineName;
  /** The shared failure path: publish to the alerts topic, then fail with the original error. */
  public readonly failurePath: sfn.IChainable;
  /** Task timeout of every `.sync` Spark task: queue timeout + job timeout + start allowance. */
  public readonly sparkTaskTimeout: Duration;
  /** Task timeout of long-running Lambda steps (the Lambda's own limit is 15 minutes). */
  public readonly ingestTimeout = Duration.minutes(15);
  /** Every `startJobRun.sync` state created, for tests and IAM. */
  public readonly sparkTasks: sfn.CustomState[] = [];

  private readonly scope: Construct;
  private readonly props: PipelineKitProps;

  constructor(scope: Construct, props: PipelineKitProps) {
    this.scope = scope;
    this.props = props;
    this.pipeline = props.pipeline;
    this.sparkTaskTimeout = props.queueTimeout.plus(props.jobTimeout).plus(props.startAllowance ?? Duration.minutes(15));

    this.failurePath = this.notifyThenFail('Notify failure', 'Pipeline failed');
  }

  /**
   * A caught error's path: publish it to the alerts topic, then fail with the original error and cause (a
   * publishing failure never hides it).
   */
  private notifyThenFail(notifyId: string, failId: string): sfn.IChainable {
    const fail = new sfn.Fail(this.scope, failId, {
      comment: 'Ends with the caught error and cause.',
      errorPath: '$.error.Error',
      causePath: '$.error.Cause',
    });
    const notify = new tasks.SnsPublish(this.scope, notifyId, {
      topic: this.props.alertsTopic,
      subject: sfn.JsonPath.format(`[${this.pipeline}] execution {} failed`, sfn.JsonPath.stringAt('$$.Execution.Name')),
      message: sfn.TaskInput.fromText(
        sfn.JsonPath.format(
          'State machine {} execution {} failed.\nError: {}\nCause: {}',
          sfn.JsonPath.stringAt('$$.StateMachine.Name'),
          sfn.JsonPath.stringAt('$$.Execution.Id'),
          sfn.JsonPath.stringAt('$.error.Error'),
          sfn.JsonPath.stringAt('$.error.Cause'),
        ),
      ),
      resultPath: sfn.JsonPath.DISCARD,
    });
    notify.addRetry({ errors: ['SNS.SdkClientException', 'SNS.ThrottledException', 'SNS.InternalErrorException'], ...backoff(2, 3) });
    notify.addCatch(fail, { resultPath: '$.notifyError' });
    return notify.next(fail);
  }

  /** The construct scope states are created in (pipeline files create Choice/Succeed/Pass states in it). */
  public pipelineScope(): Construct {
    return this.scope;
  }

  /** `$$`-derived execution context passed to Lambdas (CONTRACTS.md `execution`). */
  public executionContext(): Record<string, string> {
    return {
      'id.$': '$$.Execution.Id',
      'name.$': '$$.Execution.Name',
      'stateMachine.$': '$$.StateMachine.Name',
      'startTime.$': '$$.Execution.StartTime',
    };
  }

  /** First state: validates the execution input and replaces the state with `{ plan }`. */
  public validateInput(): sfn.TaskStateBase {
    const task = new tasks.LambdaInvoke(this.scope, 'Validate input', {
      comment: 'Validates the execution input (ValidationError names the field) and returns the full plan.',
      lambdaFunction: this.props.functions.validateInput,
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      payload: sfn.TaskInput.fromObject({
        pipeline: this.pipeline,
        'input.$': '$',
        execution: this.executionContext(),
      }),
      // No ResultPath: the default ("$") replaces the state with { plan, costs }. (An explicit "$" is mis-handled
      // by aws-local-stepfunctions 3.0, which stores the result under a key named "$".) `costs` starts empty so
      // Parallel states can merge their branches' cost records into it.
      resultSelector: { 'plan.$': '$', costs: {} },
      taskTimeout: sfn.Timeout.duration(Duration.seconds(60)),
    });
    this.lambdaRetry(task);
    task.addCatch(this.failurePath, { errors: ['States.ALL'], resultPath: '$.error' });
    return task;
  }

  /**
   * A Lambda task with transient-error Retry, a timeout, and Catch → failure path (or `catchTo` inside a
   * Parallel branch).
   */
  public lambdaStep(
    id: string,
    fn: keyof PipelineFunctions,
    /** Payload object (JSONPath fields end in `.$`), or a JSONPath selecting the whole payload. */
    payload: Record<string, unknown> | string,
    resultPath: string,
    options: {
      readonly comment?: string;
      readonly timeout?: Duration;
      readonly catchTo?: sfn.IChainable;
      /** Where a caught error goes. @default '$.error' */
      readonly errorPath?: string;
    } = {},
  ): sfn.TaskStateBase {
    const task = new tasks.LambdaInvoke(this.scope, id, {
      comment: options.comment,
      lambdaFunction: this.props.functions[fn],
      payloadResponseOnly: true,
      retryOnServiceExceptions: false,
      // A JSONPath payload must be the task's InputPath: with payloadResponseOnly, fromJsonPathAt renders
      // `"Parameters": "$.x"`, a literal string the Lambda receives as is (found by the local runner).
      ...(typeof payload === 'string' ? { inputPath: payload } : { payload: sfn.TaskInput.fromObject(payload) }),
      resultPath,
      taskTimeout: sfn.Timeout.duration(options.timeout ?? Duration.seconds(60)),
    });
    this.lambdaRetry(task);
    task.addCatch(options.catchTo ?? this.failurePath, { errors: ['States.ALL'], resultPath: options.errorPath ?? '$.error' });
    return task;
  }

  /**
   * One Spark step: `Build <step> request` (Lambda → StartJobRun request) → `Run <step>` (`startJobRun.sync`)
   * → `Record <step> cost` (Lambda → `$.costs.<key>`, also written into the result JSON as `resources`; its
   * failure is caught and the step goes on, so a cost record never fails a pipeline) → `Read <step> result`
   * (Lambda → `resultPath`). The job arguments are `$.plan.steps.<key>.args`, merged with
   * `runtimeArgs` (JSONPaths into the state, e.g. a model URI produced by an earlier step).
   */
  public sparkStep(
    key: string,
    options: {
      /** Extra job args taken from the state at run time: arg name → JSONPath. */
      readonly runtimeArgs?: Record<string, string>;
      /** Dotted keys the result JSON must contain (read-result fails with JobResultError otherwise). */
      readonly require?: string[];
      /** Where the parsed result goes. @default `$.results.<key>` */
      readonly resultPath?: string;
      /** Catch target (inside a Parallel branch, a state of that branch). @default the failure path */
      readonly catchTo?: sfn.IChainable;
    } = {},
  ): sfn.Chain {
    const step = stepName(key);
    const planStep = `$.plan.steps.${key}`;
    const catchTo = options.catchTo ?? this.failurePath;

    let argsPath: Record<string, string> = { 'args.$': `${planStep}.args` };
    let prepare: sfn.Pass | undefined;
    if (options.runtimeArgs && Object.keys(options.runtimeArgs).length > 0) {
      prepare = new sfn.Pass(this.scope, `Prepare ${step} args`, {
        comment: 'Collects job arguments only known at run time (outputs of earlier steps).',
        parameters: Object.fromEntries(Object.entries(options.runtimeArgs).map(([arg, path]) => [`${arg}.$`, path])),
        resultPath: '$.work.runtimeArgs',
      });
      argsPath = { 'args.$': `States.JsonMerge(${planStep}.args, $.work.runtimeArgs, false)` };
    }

    const build = this.lambdaStep(
      `Build ${step} request`,
      'buildJobRequest',
      { 'job.$': `${planStep}.job`, 'step.$': `${planStep}.step`, ...argsPath, execution: this.executionContext() },
      '$.work.jobRequest',
      { comment: `Builds the EMR Serverless StartJobRun request of ${step}.`, catchTo },
    );

    const req = '$.work.jobRequest';
    const run = new sfn.CustomState(this.scope, `Run ${step}`, {
      stateJson: {
        Type: 'Task',
        Comment: `Runs ${step} on EMR Serverless and waits for the job run to end (.sync).`,
        Resource: START_JOB_RUN_SYNC,
        Parameters: {
          'ApplicationId.$': `${req}.ApplicationId`,
          'ExecutionRoleArn.$': `${req}.ExecutionRoleArn`,
          'Name.$': `${req}.Name`,
          // A redriven execution keeps its id, so the redrive count makes its job runs new ones (EMR Serverless
          // would hand back the failed run for the same token).
          'ClientToken.$': `States.Format('{}-{}', ${req}.ClientToken, $$.Execution.RedriveCount)`,
          'ExecutionTimeoutMinutes.$': `${req}.ExecutionTimeoutMinutes`,
          'Mode.$': `${req}.Mode`,
          'RetryPolicy.$': `${req}.RetryPolicy`,
          'JobDriver.$': `${req}.JobDriver`,
          'ConfigurationOverrides.$': `${req}.ConfigurationOverrides`,
          'Tags.$': `${req}.Tags`,
        },
        // Kept for the step that follows (e.g. cost records); decisions use the job's result JSON, read next.
        ResultPath: '$.work.jobRun',
        TimeoutSeconds: this.sparkTaskTimeout.toSeconds(),
      },
    });
    run.addRetry({ errors: EMR_TRANSIENT_ERRORS, ...backoff(30, 5), maxDelay: Duration.minutes(5) });
    // No Catch: a failed job run fails the execution in this state, so a redrive (RedriveExecution) resumes here
    // rather than at a Fail state. The job-run FAILED rule alerts with the job's error (PipelineMonitoring).
    this.sparkTasks.push(run);

    const read = this.lambdaStep(
      `Read ${step} result`,
      'readResult',
      { 'resultUri.$': `${planStep}.args.resultUri`, ...(options.require ? { require: options.require } : {}) },
      options.resultPath ?? `$.results.${key}`,
      { comment: `Reads ${step}'s result JSON; a missing or FAILED result raises JobResultError.`, catchTo },
    );

    const recordCost = this.lambdaStep(
      `Record ${step} cost`,
      'recordJobCost',
      { 'jobRun.$': '$.work.jobRun', 'resultUri.$': `${planStep}.args.resultUri`, step },
      `$.costs.${key}`,
      {
        comment: `Prices ${step}'s job run (GetJobRun billedResourceUtilization); a failure here only loses the record.`,
        catchTo: read,
        errorPath: '$.work.costError',
      },
    );

    const chain = prepare ? sfn.Chain.start(prepare).next(build) : sfn.Chain.start(build);
    return chain.next(run).next(recordCost).next(read);
  }

  /**
   * Runs branches in parallel. Each branch is built with its own catch target for its Lambda steps (publish,
   * then a Fail state that keeps the error); the Parallel state has no Catch (see below). The branches' results are collected at
   * `$.results.<group>.<stepKey>` and their cost records merged into `$.costs` by two Pass states that follow
   * (a state has one ResultPath; the Parallel leaves both in `$.work.parallel`).
   */
  public parallel(
    id: string,
    group: string,
    branches: ReadonlyArray<{ readonly key: string; readonly build: (catchTo: sfn.IChainable) => sfn.IChainable }>,
  ): sfn.Chain {
    const results: Record<string, string> = {};
    // Each branch's output is the whole state: `costs` holds the earlier records plus that branch's.
    const costs = branches
      .map((_, index) => `$[${index}].costs`)
      .reduce((merged, next) => `States.JsonMerge(${merged}, ${next}, false)`);
    const parallel = new sfn.Parallel(this.scope, id, {
      resultPath: '$.work.parallel',
      resultSelector: { results, 'costs.$': costs },
    });
    branches.forEach((branch, index) => {
      // A Lambda step's caught error is published inside its branch (a branch cannot reach the top-level path).
      parallel.branch(branch.build(this.notifyThenFail(`Notify ${stepName(branch.key)} failure`, `${stepName(branch.key)} failed`)));
      results[`${branch.key}.$`] = `$[${index}].results.${branch.key}`;
    });
    // No Catch: a failed branch fails the execution here, and a redrive reruns only the failed branches.
    const collectResults = new sfn.Pass(this.scope, `Collect ${id} results`, {
      inputPath: '$.work.parallel.results',
      resultPath: `$.results.${group}`,
    });
    const collectCosts = new sfn.Pass(this.scope, `Collect ${id} costs`, {
      inputPath: '$.work.parallel.costs',
      resultPath: '$.costs',
    });
    return sfn.Chain.start(parallel).next(collectResults).next(collectCosts);
  }

  private lambdaRetry(task: sfn.TaskStateBase): void {
    task.addRetry({ errors: LAMBDA_TRANSIENT_ERRORS, ...backoff(2, 4), maxDelay: Duration.seconds(30) });
  }
}

/** Exponential backoff with full jitter. */
function backoff(intervalSeconds: number, maxAttempts: number): sfn.RetryProps {
  return {
    interval: Duration.seconds(intervalSeconds),
    maxAttempts,
    backoffRate: 2,
    jitterStrategy: sfn.JitterType.FULL,
  };
}
