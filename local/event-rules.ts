import type { LocalDeployment } from './deployment';
import type { JobRunRecord } from './emr/job-run';

/**
 * EventBridge rules of the synthesized app on the default bus, for the events the local services emit — today the
 * `EMR Serverless Job Run State Change` of a job run that ended. A matching rule's Lambda targets are invoked as
 * EventBridge invokes them: asynchronously, with the event as the payload, by `events.amazonaws.com` with the
 * rule's ARN as `aws:SourceArn` (the function's resource policy must allow it, as on AWS).
 */
export interface LocalEventRule {
  readonly logicalId: string;
  readonly arn: string;
  readonly enabled: boolean;
  readonly pattern: EventPattern;
  readonly targetArns: readonly string[];
}

type EventPattern = { readonly [key: string]: EventPattern | readonly PatternValue[] };
type PatternValue = string | number | boolean | null | { readonly prefix?: string; readonly 'anything-but'?: unknown; readonly exists?: boolean };

/** An event as EventBridge delivers it to a target. */
export interface AwsEvent {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': string;
  readonly source: string;
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: Record<string, unknown>;
}

export function listEventRules(deployment: LocalDeployment): LocalEventRule[] {
  const rules: LocalEventRule[] = [];
  for (const stack of deployment.stacks) {
    for (const [logicalId, resource] of Object.entries(stack.template.Resources ?? {})) {
      if (resource.Type !== 'AWS::Events::Rule') continue;
      const props = deployment.resolve(stack, (resource.Properties ?? {}) as never) as Record<string, any>;
      if (!props.EventPattern) continue; // scheduled rules fire on a clock, not on events
      rules.push({
        logicalId,
        arn: String(deployment.resolve(stack, { 'Fn::GetAtt': [logicalId, 'Arn'] } as never)),
        enabled: props.State !== 'DISABLED',
        pattern: props.EventPattern as EventPattern,
        targetArns: ((props.Targets ?? []) as Array<{ Arn: string }>).map((t) => String(t.Arn)),
      });
    }
  }
  return rules;
}

/**
 * Whether `event` matches `pattern` (EventBridge's rules for the forms the app's rules use: a list of values any of
 * which matches, nested objects, `prefix`, `anything-but`, `exists`).
 */
export function matchesPattern(pattern: EventPattern, event: Record<string, unknown>): boolean {
  return Object.entries(pattern).every(([key, expected]) => {
    const actual = event[key];
    if (!Array.isArray(expected)) {
      return actual !== null && typeof actual === 'object' && matchesPattern(expected as EventPattern, actual as Record<string, unknown>);
    }
    const values = Array.isArray(actual) ? actual : [actual];
    return (expected as readonly PatternValue[]).some((rule) => {
      if (rule !== null && typeof rule === 'object') {
        if (rule.exists !== undefined) return rule.exists === (actual !== undefined);
        if (rule.prefix !== undefined) return values.some((v) => typeof v === 'string' && v.startsWith(rule.prefix!));
        if (rule['anything-but'] !== undefined) {
          const excluded = ([] as unknown[]).concat(rule['anything-but']);
          return actual !== undefined && values.every((v) => !excluded.includes(v));
        }
        return false;
      }
      return values.some((v) => v === rule);
    });
  });
}

/** The state-change event EMR Serverless sends when a job run ends. */
export function jobRunStateChangeEvent(record: JobRunRecord, releaseLabel: string, deployment: Pick<LocalDeployment, 'region' | 'accountId'>): AwsEvent {
  return {
    version: '0',
    id: `${record.jobRunId}-${record.state.toLowerCase()}`,
    'detail-type': 'EMR Serverless Job Run State Change',
    source: 'aws.emr-serverless',
    account: deployment.accountId,
    time: record.endedAt.toISOString(),
    region: deployment.region,
    resources: [],
    detail: {
      jobRunId: record.jobRunId,
      jobRunName: record.name,
      applicationId: record.applicationId,
      arn: record.arn,
      releaseLabel,
      state: record.state,
      previousState: record.state === 'CANCELLED' ? 'CANCELLING' : 'RUNNING',
      stateDetails: record.stateDetails,
      updatedAt: record.endedAt.toISOString(),
    },
  };
}

/** What the bus needs of the runtime: authorization of the service principal and the Lambda host. */
export interface EventBusServices {
  readonly deployment: LocalDeployment;
  readonly authorize: (request: { principalArn: string; operation: string; params: Record<string, unknown>; sourceArn: string; sourceAccount: string }) => Promise<{ allowed: boolean; reason?: string }>;
  readonly invoke: (functionArn: string, event: AwsEvent) => Promise<unknown>;
  /** One JSON line per delivery (rule, target, outcome). */
  readonly deliveryLog: (line: Record<string, unknown>) => void;
}

/** The default event bus: rules matched on each event, targets invoked asynchronously; {@link drain} awaits them. */
export class LocalEventBus {
  private readonly rules: LocalEventRule[];
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly services: EventBusServices) {
    this.rules = listEventRules(services.deployment);
  }

  put(event: AwsEvent): void {
    for (const rule of this.rules) {
      if (!rule.enabled || !matchesPattern(rule.pattern, event as unknown as Record<string, unknown>)) continue;
      for (const targetArn of rule.targetArns) {
        const delivery = this.deliver(rule, targetArn, event).finally(() => this.pending.delete(delivery));
        this.pending.add(delivery);
      }
    }
  }

  /** Waits for every delivery in flight (and those they cause). */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private async deliver(rule: LocalEventRule, targetArn: string, event: AwsEvent): Promise<void> {
    const base = { time: new Date().toISOString(), rule: rule.logicalId, target: targetArn, eventId: event.id, detailType: event['detail-type'] };
    const fn = this.services.deployment.findFunction(targetArn);
    if (!fn) {
      this.services.deliveryLog({ ...base, outcome: 'not delivered: the local runner delivers rule events to Lambda targets only' });
      return;
    }
    const decision = await this.services.authorize({
      principalArn: 'events.amazonaws.com',
      operation: 'Lambda.Invoke',
      params: { FunctionName: fn.arn },
      sourceArn: rule.arn,
      sourceAccount: this.services.deployment.accountId,
    });
    if (!decision.allowed) {
      // EventBridge counts a FailedInvocation (and retries, then its DLQ); the function never runs
      this.services.deliveryLog({ ...base, outcome: `FailedInvocation: events.amazonaws.com may not invoke ${fn.arn}: ${decision.reason ?? 'denied'}` });
      return;
    }
    try {
      await this.services.invoke(fn.arn, event);
      this.services.deliveryLog({ ...base, outcome: 'invoked' });
    } catch (error) {
      this.services.deliveryLog({ ...base, outcome: `function error: ${(error as Error).name}: ${(error as Error).message}` });
    }
  }
}
