import type { LocalDeployment } from './deployment';
import type { ExecutionRecord, LocalRuntime } from './runtime';

/**
 * EventBridge Scheduler schedules of the synthesized app, fired on demand: the schedule's role (its
 * `Target.RoleArn`) must be allowed to start the target — `states:StartExecution` on a state machine,
 * `lambda:InvokeFunction` on a function — and the target gets the schedule's `Input`, as the Scheduler delivers
 * it. A disabled schedule fires too when asked (the point is to run what it would run).
 */
export interface LocalSchedule {
  readonly logicalId: string;
  readonly name: string;
  readonly expression: string;
  readonly enabled: boolean;
  readonly targetArn: string;
  readonly roleArn: string;
  readonly input: unknown;
}

export function listSchedules(deployment: LocalDeployment): LocalSchedule[] {
  const out: LocalSchedule[] = [];
  for (const stack of deployment.stacks) {
    for (const [logicalId, resource] of Object.entries(stack.template.Resources ?? {})) {
      if (resource.Type !== 'AWS::Scheduler::Schedule') continue;
      const props = deployment.resolve(stack, (resource.Properties ?? {}) as never) as Record<string, any>;
      out.push({
        logicalId,
        name: String(props.Name ?? logicalId),
        expression: String(props.ScheduleExpression ?? ''),
        enabled: props.State !== 'DISABLED',
        targetArn: String(props.Target?.Arn ?? ''),
        roleArn: String(props.Target?.RoleArn ?? ''),
        input: props.Target?.Input === undefined ? {} : JSON.parse(String(props.Target.Input)),
      });
    }
  }
  return out;
}

/** The schedule matched by name or logical id (or a unique part of it, e.g. `news`). */
export function findSchedule(deployment: LocalDeployment, wanted: string): LocalSchedule {
  const all = listSchedules(deployment);
  const key = wanted.toLowerCase().replace(/[^a-z0-9]/g, '');
  const matches = all.filter((s) => s.name === wanted || s.logicalId === wanted || s.logicalId.toLowerCase().includes(key));
  if (matches.length !== 1) {
    throw new Error(`Schedule "${wanted}" ${matches.length ? 'is ambiguous' : 'is not in the synthesized app'}; schedules: ${all.map((s) => s.logicalId).join(', ') || '(none)'}`);
  }
  return matches[0];
}

/** Fires a schedule once: the target runs as the Scheduler would start it, under the schedule's role. */
export async function fireSchedule(runtime: LocalRuntime, wanted: string): Promise<ExecutionRecord | unknown> {
  const schedule = findSchedule(runtime.deployment, wanted);
  const stateMachine = runtime.deployment.stateMachines.find((sm) => sm.arn === schedule.targetArn);
  if (stateMachine) return runtime.run(stateMachine.name, schedule.input, { startedBy: schedule.roleArn });
  const fn = runtime.deployment.findFunction(schedule.targetArn);
  if (!fn) throw new Error(`Schedule ${schedule.logicalId}: target ${schedule.targetArn} is neither a state machine nor a function of the app`);
  await runtime.aws.assertAuthorized({ principalArn: schedule.roleArn, operation: 'Lambda.Invoke', params: { FunctionName: fn.arn } });
  return runtime.lambdas.invoke(fn, schedule.input);
}
