import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Duration, TimeZone } from 'aws-cdk-lib';
import { Construct } from 'constructs';

export interface PipelineScheduleSpec {
  readonly id: string;
  readonly stateMachine: sfn.IStateMachine;
  /** `rate(...)` or `cron(...)` (EventBridge Scheduler syntax). */
  readonly expression: string;
  /** Created ENABLED when true, DISABLED otherwise (the schedule exists either way and can be switched on). */
  readonly enabled: boolean;
  /** Execution input. @default {} */
  readonly input?: Record<string, unknown>;
  readonly description?: string;
}

export interface PipelineSchedulesProps {
  readonly schedules: PipelineScheduleSpec[];
  /** @default 'UTC' */
  readonly timeZone?: string;
}

/**
 * Starts pipelines on a schedule with **EventBridge Scheduler** (not EventBridge rules): schedules have an
 * explicit ENABLED/DISABLED state (off by default in dev, flipped by config without deleting anything), a time
 * zone for cron expressions, a per-target retry policy, and a dedicated least-privilege role per target
 * (`states:StartExecution` on that state machine only).
 */
export class PipelineSchedules extends Construct {
  public readonly schedules: scheduler.Schedule[] = [];

  constructor(scope: Construct, id: string, props: PipelineSchedulesProps) {
    super(scope, id);
    const timeZone = props.timeZone ?? 'UTC';
    for (const spec of props.schedules) {
      const expression = parseExpression(spec.expression, timeZone);
      const schedule = new scheduler.Schedule(this, spec.id, {
        description: spec.description,
        schedule: expression,
        enabled: spec.enabled,
        target: new targets.StepFunctionsStartExecution(spec.stateMachine, {
          input: scheduler.ScheduleTargetInput.fromObject(spec.input ?? {}),
          retryAttempts: 3,
          maxEventAge: Duration.hours(1),
        }),
      });
      this.schedules.push(schedule);
    }
  }
}

function parseExpression(expression: string, timeZone: string): scheduler.ScheduleExpression {
  // Time zones apply to cron expressions only.
  return expression.startsWith('rate(')
    ? scheduler.ScheduleExpression.expression(expression)
    : scheduler.ScheduleExpression.expression(expression, TimeZone.of(timeZone));
}
