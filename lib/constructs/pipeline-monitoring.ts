import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { AlertsTopic } from './alerts-topic';
import { JOB_RUN_METRIC_DIMENSION, JOB_RUN_METRICS_NAMESPACE, JOB_RUN_TIMING_METRICS } from '../jobs/job-run-metrics';
import { START_JOB_RUN_SYNC } from '../pipelines/kit';
import type { SparkApplication } from './spark-application';

export interface PipelineMonitoringProps {
  readonly alerts: AlertsTopic;
  /**
   * Lambda the job-run FAILED rule invokes to publish an alert naming the cause (lambda/notify-job-failure).
   * @default - the rule publishes the event's ids and stateDetails to the alerts topic itself
   */
  readonly jobFailureHandler?: lambda.IFunction;
  /** The application whose job runs the rule and the dashboard watch (its release decides the metric dimensions). */
  readonly sparkApplication: SparkApplication;
  readonly stateMachines: Record<string, sfn.IStateMachine>;
  /** @default - generated */
  readonly dashboardName?: string;
}

/**
 * - An EventBridge rule on EMR Serverless job runs of the application entering FAILED → the job-failure Lambda,
 *   which publishes the cause to the alerts topic (covers job runs started outside Step Functions too; a pipeline's
 *   Spark step has no Catch, so this is its alert).
 * - A CloudWatch dashboard: executions started/succeeded/failed and execution time per pipeline; `.sync` Spark
 *   task duration (Step Functions service-integration time); the application's running/successful/failed jobs
 *   and allocated vCPU/memory; vCPU and memory used per job run; queue time, start latency and run time per step
 *   (record-job-cost's metrics, lib/jobs/job-run-metrics.ts). The EMR Serverless widgets use the metrics the
 *   application's release publishes (`SparkApplication.metric`/`metricJobRuns`): from release 7.10 (every
 *   emr-spark-8.x) with the `ApplicationName`/`JobName` dimensions — the `ApplicationId`-only ones are no longer
 *   updated there — and by `ApplicationId`/`JobId` for older releases.
 */
export class PipelineMonitoring extends Construct {
  public readonly jobFailedRule: events.Rule;
  public readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: PipelineMonitoringProps) {
    super(scope, id);

    this.jobFailedRule = new events.Rule(this, 'JobRunFailed', {
      description: 'EMR Serverless job run of the ML pipelines application FAILED',
      eventPattern: {
        source: ['aws.emr-serverless'],
        detailType: ['EMR Serverless Job Run State Change'],
        detail: { state: ['FAILED'], applicationId: [props.sparkApplication.applicationId] },
      },
    });
    const delivery = { deadLetterQueue: props.alerts.deadLetterQueue, retryAttempts: 8, maxEventAge: Duration.hours(2) };
    this.jobFailedRule.addTarget(
      props.jobFailureHandler
        ? new eventTargets.LambdaFunction(props.jobFailureHandler, delivery)
        : new eventTargets.SnsTopic(props.alerts.topic, {
            ...delivery,
            message: events.RuleTargetInput.fromText(
              `EMR Serverless job run ${events.EventField.fromPath('$.detail.jobRunId')} ` +
                `(${events.EventField.fromPath('$.detail.jobRunName')}) on application ${events.EventField.fromPath('$.detail.applicationId')} ` +
                `FAILED: ${events.EventField.fromPath('$.detail.stateDetails')}`,
            ),
          }),
    );

    const period = Duration.minutes(5);
    const sms = Object.entries(props.stateMachines);
    const app = props.sparkApplication;
    const emr = (metricName: string, statistic = 'Sum') => app.metric(metricName, { statistic, period });
    const by = app.metricsByName ? 'ApplicationName' : 'ApplicationId';

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: props.dashboardName,
      defaultInterval: Duration.days(7),
    });
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Executions started / succeeded / failed',
        width: 12,
        left: sms.flatMap(([name, sm]) => [
          sm.metricStarted({ period, label: `${name} started` }),
          sm.metricSucceeded({ period, label: `${name} succeeded` }),
          sm.metricFailed({ period, label: `${name} failed` }),
        ]),
      }),
      new cloudwatch.GraphWidget({
        title: 'Execution time (p50 / max)',
        width: 12,
        left: sms.flatMap(([name, sm]) => [
          sm.metricTime({ period, statistic: 'p50', label: `${name} p50` }),
          sm.metricTime({ period, statistic: 'Maximum', label: `${name} max` }),
        ]),
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Spark job duration (startJobRun.sync task time)',
        width: 12,
        left: ['Average', 'Maximum'].map(
          (statistic) =>
            new cloudwatch.Metric({
              namespace: 'AWS/States',
              metricName: 'ServiceIntegrationTime',
              dimensionsMap: { ServiceIntegrationResourceArn: START_JOB_RUN_SYNC },
              statistic,
              period,
              label: `job duration ${statistic.toLowerCase()} (ms)`,
            }),
        ),
      }),
      new cloudwatch.GraphWidget({
        title: `EMR Serverless jobs and capacity (by ${by})`,
        width: 12,
        left: [emr('RunningJobs', 'Maximum'), emr('SuccessJobs'), emr('FailedJobs')],
        right: [emr('CPUAllocated', 'Maximum'), emr('MemoryAllocated', 'Maximum')],
      }),
    );
    // Queueing and start latency per step, from the job runs' own timestamps (record-job-cost publishes them).
    this.dashboard.addWidgets(
      ...JOB_RUN_TIMING_METRICS.map(
        (metricName) =>
          new cloudwatch.GraphWidget({
            title: `${metricName.replace(/Seconds$/, '').replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase()} per step, seconds (max)`,
            width: 8,
            left: [
              new cloudwatch.MathExpression({
                expression: `SEARCH('{${JOB_RUN_METRICS_NAMESPACE},${JOB_RUN_METRIC_DIMENSION}} MetricName="${metricName}"', 'Maximum', ${period.toSeconds()})`,
                label: '',
                period,
              }),
            ],
          }),
      ),
    );
    // One Metrics Insights query per widget (GetMetricData takes one per call).
    const perRun = app.metricsByName ? 'JobName' : 'JobId';
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: `vCPU used per job run (${perRun}, top 10)`,
        width: 12,
        left: [app.metricJobRuns('WorkerCpuUsed')],
      }),
      new cloudwatch.GraphWidget({
        title: `Memory used per job run, GB (${perRun}, top 10)`,
        width: 12,
        left: [app.metricJobRuns('WorkerMemoryUsed')],
      }),
    );
  }
}
