import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { PipelineModule } from '../pipelines';
import { type PipelineFunctions, PipelineKit } from '../pipelines/kit';
import type { AlertsTopic } from './alerts-topic';
import { XRAY_ALLOWANCE, acknowledgeIamWildcards } from './nag-acknowledgements';
import type { JobExecutionRole } from './job-execution-role';
import type { SparkApplication } from './spark-application';

export interface PipelineStateMachineProps {
  /** The pipeline (input schema, plan, definition) from `lib/pipelines`. */
  readonly pipeline: PipelineModule;
  readonly functions: PipelineFunctions;
  readonly alerts: AlertsTopic;
  readonly sparkApplication: SparkApplication;
  readonly jobRole: JobExecutionRole;
  /**
   * Per-job execution timeout; the `.sync` task waits the application's queue timeout plus this plus a start
   * allowance (`PipelineKit.sparkTaskTimeout`).
   */
  readonly jobTimeout: Duration;
  /** @default - generated */
  readonly stateMachineName?: string;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** @default RemovalPolicy.RETAIN */
  readonly logRemovalPolicy?: RemovalPolicy;
  /** Whole-execution timeout. @default Duration.hours(24) */
  readonly executionTimeout?: Duration;
}

/**
 * One pipeline as a STANDARD Step Functions state machine (JSONPath): logs ALL (with execution data) to its own
 * log group, X-Ray tracing, least-privilege role (its Lambdas, StartJobRun on the application with the job role
 * passed only to EMR Serverless, the `.sync` events rule, publish to alerts), and alarms on failed and
 * timed-out executions → alerts topic.
 */
export class PipelineStateMachine extends Construct {
  public readonly stateMachine: sfn.StateMachine;
  public readonly logGroup: logs.LogGroup;
  public readonly failedAlarm: cloudwatch.Alarm;
  public readonly timedOutAlarm: cloudwatch.Alarm;
  /** The state-building kit (exposes the created `startJobRun.sync` states). */
  public readonly kit: PipelineKit;

  constructor(scope: Construct, id: string, props: PipelineStateMachineProps) {
    super(scope, id);
    this.kit = new PipelineKit(this, {
      pipeline: props.pipeline.name,
      functions: props.functions,
      alertsTopic: props.alerts.topic,
      jobTimeout: props.jobTimeout,
      queueTimeout: props.sparkApplication.queueTimeout,
    });
    const definition = props.pipeline.definition(this.kit);

    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: props.stateMachineName ? `/aws/vendedlogs/states/${props.stateMachineName}` : undefined,
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });

    this.stateMachine = new sfn.StateMachine(this, 'Resource', {
      stateMachineName: props.stateMachineName,
      stateMachineType: sfn.StateMachineType.STANDARD,
      comment: `ML pipeline ${props.pipeline.name}`,
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      queryLanguage: sfn.QueryLanguage.JSON_PATH,
      timeout: props.executionTimeout ?? Duration.hours(24),
      tracingEnabled: true,
      logs: { destination: this.logGroup, level: sfn.LogLevel.ALL, includeExecutionData: true },
    });

    props.sparkApplication.grantStartJobRun(this.stateMachine, props.jobRole, { sync: true });
    props.alerts.grantPublish(this.stateMachine);

    const alarm = (alarmId: string, metric: cloudwatch.Metric, what: string) => {
      const a = new cloudwatch.Alarm(this, alarmId, {
        alarmDescription: `${props.pipeline.name}: ${what}`,
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      a.addAlarmAction(new cwActions.SnsAction(props.alerts.topic));
      return a;
    };
    this.failedAlarm = alarm('FailedAlarm', this.stateMachine.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }), 'an execution failed');
    this.timedOutAlarm = alarm(
      'TimedOutAlarm',
      this.stateMachine.metricTimedOut({ period: Duration.minutes(5), statistic: 'Sum' }),
      'an execution timed out',
    );

    acknowledgeIamWildcards(this, [
      {
        finding: /^Resource::<.+\.Arn>:\*$/,
        reason: `State machine ${props.pipeline.name}: "<function ARN>:*" (added by LambdaInvoke) covers versions/aliases of its own pipeline Lambdas only.`,
      },
      {
        finding: /^Resource::<.+\.Arn>\/jobruns\/\*$/,
        reason: `State machine ${props.pipeline.name}: StartJobRun tags the new run (TagResource, limited to the builder's tag keys) and .sync calls GetJobRun/CancelJobRun on job runs of the one pipeline application; job-run ids are generated at run time.`,
      },
      {
        finding: /^Action::kms:GenerateDataKey\*$/,
        reason: 'Publishing to the KMS-encrypted alerts topic needs kms:GenerateDataKey* on that topic key only (grantPublish).',
      },
      XRAY_ALLOWANCE,
    ]);
  }

  /** Every `startJobRun.sync` state of this pipeline. */
  public get sparkTasks(): sfn.CustomState[] {
    return this.kit.sparkTasks;
  }
}
