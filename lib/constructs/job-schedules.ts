import { Duration, TimeZone } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import { Construct } from 'constructs';

export interface JobScheduleSpec {
  /** Construct id. */
  readonly id: string;
  /** Physical schedule name (1–64 of `[A-Za-z0-9_.-]`): with the scheduled time it makes the run's ClientToken. */
  readonly scheduleName: string;
  /** `rate(...)` or `cron(...)` (EventBridge Scheduler syntax). */
  readonly expression: string;
  /** Created ENABLED when true, DISABLED otherwise. */
  readonly enabled: boolean;
  readonly job: string;
  readonly step: string;
  /** Job arguments (camelCase of the CLI flags); may hold tokens (bucket names). */
  readonly args: Record<string, unknown>;
  readonly overrides?: Record<string, unknown>;
  readonly description?: string;
}

export interface JobSchedulesProps {
  /** The `start-job-run` Lambda (input: `{job, step, args, overrides?, schedule: {name, scheduledTime}}`). */
  readonly startJobRun: lambda.IFunction;
  readonly schedules: JobScheduleSpec[];
  /** @default 'UTC' */
  readonly timeZone?: string;
}

/**
 * Standalone job runs on a schedule: one **EventBridge Scheduler** schedule per job, invoking the `start-job-run`
 * Lambda with the job, its arguments and the Scheduler's `<aws.scheduler.scheduled-time>`. The Lambda derives the
 * ClientToken from schedule name + scheduled time, so Scheduler and Lambda retries never start a second run.
 */
export class JobSchedules extends Construct {
  public readonly schedules: scheduler.Schedule[] = [];

  constructor(scope: Construct, id: string, props: JobSchedulesProps) {
    super(scope, id);
    const timeZone = props.timeZone ?? 'UTC';
    for (const spec of props.schedules) {
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(spec.scheduleName)) {
        throw new Error(`Job schedule name "${spec.scheduleName}" must be 1-64 characters of A-Z a-z 0-9 _ . - (shorten the schedule key or the stage name)`);
      }
      const schedule = new scheduler.Schedule(this, spec.id, {
        scheduleName: spec.scheduleName,
        description: spec.description ?? `Standalone ${spec.job} job run (${spec.step})`,
        schedule: spec.expression.startsWith('rate(')
          ? scheduler.ScheduleExpression.expression(spec.expression)
          : scheduler.ScheduleExpression.expression(spec.expression, TimeZone.of(timeZone)),
        enabled: spec.enabled,
        target: new targets.LambdaInvoke(props.startJobRun, {
          input: scheduler.ScheduleTargetInput.fromObject({
            job: spec.job,
            step: spec.step,
            args: spec.args,
            ...(spec.overrides ? { overrides: spec.overrides } : {}),
            schedule: { name: spec.scheduleName, scheduledTime: scheduler.ContextAttribute.scheduledTime },
          }),
          retryAttempts: 3,
          maxEventAge: Duration.hours(1),
        }),
      });
      this.schedules.push(schedule);
    }
  }
}
