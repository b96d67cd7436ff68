import { randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { LocalDeployment } from './deployment';
import { JobRunFailedError, LocalEmrServerless, StartJobRunRequest } from './emr-adapter';
import { LambdaFunctionError, LocalLambdaHost } from './lambda-host';
import { assertWithinPayloadLimit, PayloadGuard } from './service-limits';
import { TaskError } from './task-errors';
import { AlertLine, publishToTopic, TopicNotFoundError } from './sns-topics';
import { AbortableHandler, withTaskTimeouts } from './task-timeouts';

export { TaskError } from './task-errors';

/**
 * Maps every Task state of a definition to the local implementation of its `Resource`, with the inputs and
 * outputs of the real service integrations:
 *
 * | Resource | local implementation | output | error (Error / Cause) |
 * |---|---|---|---|
 * | `arn:aws:lambda:…:function:F` | handler of F in-process | the handler's result | errorType / `{"errorType","errorMessage","trace"}` |
 * | `arn:aws:states:::lambda:invoke` | same, `FunctionName` + `Payload` | `{ExecutedVersion, Payload, StatusCode, …}` | same |
 * | `arn:aws:states:::emr-serverless:startJobRun.sync` | local spark-submit (emr-adapter.ts) | the final job run | `States.TaskFailed` / job run JSON |
 * | `arn:aws:states:::sns:publish` | a line in `alerts.jsonl` | `{MessageId, SdkHttpMetadata, …}` | `SNS.NotFoundException` for an unknown topic, `SNS.InvalidParameterException` for a Subject/Message over SNS' limits |
 *
 * Around every handler, as the service does: the task's input (after Parameters) and its result must fit Step
 * Functions' payload quota (`States.DataLimitExceeded`, terminal; service-limits.ts), and `TimeoutSeconds` /
 * `HeartbeatSeconds` cancel what the task started (task-timeouts.ts).
 *
 * A definition using any other resource is rejected before it runs, naming the state and the resource.
 */
export interface TaskContext {
  readonly deployment: LocalDeployment;
  /** Authorizes what the state machine's role does for a task (the integration's IAM, per operations.json). */
  readonly authorize: (operation: string, params: Record<string, unknown>) => Promise<void>;
  readonly lambdas: LocalLambdaHost;
  readonly emr: LocalEmrServerless;
  readonly alertsFile: string;
  /** The execution the handlers belong to (job runs are cancelled with it). */
  readonly executionArn: string;
  /** Log file of the state about to run (one per state entry). */
  logFileFor(stateName: string): string;
  /** The execution's payload-quota watch: no task starts once a state broke it. */
  readonly payloads?: PayloadGuard;
}

type TaskHandler = (input: unknown) => Promise<unknown>;

export function collectTaskStates(definition: Record<string, unknown>): Array<{ name: string; resource: string; state: Record<string, unknown> }> {
  const out: Array<{ name: string; resource: string; state: Record<string, unknown> }> = [];
  const visit = (def: Record<string, unknown>) => {
    for (const [name, state] of Object.entries((def.States ?? {}) as Record<string, Record<string, unknown>>)) {
      if (state.Type === 'Task') out.push({ name, resource: String(state.Resource), state });
      if (state.Type === 'Parallel') for (const branch of (state.Branches ?? []) as Array<Record<string, unknown>>) visit(branch);
      if (state.Type === 'Map') {
        const processor = (state.ItemProcessor ?? state.Iterator) as Record<string, unknown> | undefined;
        if (processor) visit(processor);
      }
    }
  };
  visit(definition);
  return out;
}

export function buildTaskHandlers(definition: Record<string, unknown>, ctx: TaskContext): Record<string, TaskHandler> {
  const handlers: Record<string, TaskHandler> = {};
  for (const { name, resource, state } of collectTaskStates(definition)) {
    const serve = handlerFor(name, resource, ctx);
    handlers[name] = withTaskTimeouts(state, name, async (input, signal) => {
      // let the execution's event log catch up: an oversized output of the previous state ends it before this runs
      await new Promise((resolve) => setImmediate(resolve));
      // a DataLimitExceededError is neither retried nor caught: the engine fails the execution with it
      ctx.payloads?.assertOpen();
      assertWithinPayloadLimit(input, name, 'input');
      await authorizeTask(name, resource, input, ctx);
      const result = await serve(input, signal);
      assertWithinPayloadLimit(result, resource, 'result');
      return result;
    });
  }
  return handlers;
}

/**
 * The state machine's role must be allowed what the integration calls: a denial fails the task with the
 * service's error name (`Lambda.AccessDeniedException`, `EMRServerless.AccessDeniedException`,
 * `SNS.AuthorizationErrorException`), so Retry/Catch act as on AWS.
 */
async function authorizeTask(stateName: string, resource: string, input: unknown, ctx: TaskContext): Promise<void> {
  const direct = /^arn:aws[a-z-]*:lambda:[^:]+:\d+:function:/.test(resource);
  const operation = direct ? 'Lambda.Invoke' : resource;
  const params = direct ? { FunctionName: resource } : ((input ?? {}) as Record<string, unknown>);
  try {
    await ctx.authorize(operation, params);
  } catch (error) {
    if ((error as Error).name !== 'AccessDenied' && (error as Error).name !== 'AccessDeniedException') throw error;
    const service = /:states:::([a-z-]+):/.exec(resource)?.[1] ?? 'lambda';
    const name = service === 'sns' ? 'SNS.AuthorizationErrorException' : service === 'emr-serverless' ? 'EMRServerless.AccessDeniedException' : 'Lambda.AccessDeniedException';
    throw new TaskError(name, `${(error as Error).message} (state "${stateName}")`);
  }
}

function handlerFor(stateName: string, resource: string, ctx: TaskContext): AbortableHandler {
  if (/^arn:aws[a-z-]*:lambda:[^:]+:\d+:function:/.test(resource)) {
    return async (input) => invokeLambda(stateName, resource, input, ctx);
  }
  if (/^arn:aws[a-z-]*:states:::lambda:invoke$/.test(resource)) {
    return async (input) => {
      const params = (input ?? {}) as { FunctionName?: string; Payload?: unknown };
      if (!params.FunctionName) throw new TaskError('States.Runtime', `${stateName}: lambda:invoke needs Parameters.FunctionName`);
      const payload = await invokeLambda(stateName, params.FunctionName, params.Payload ?? {}, ctx);
      return {
        ExecutedVersion: '$LATEST',
        Payload: payload,
        StatusCode: 200,
        SdkHttpMetadata: { HttpStatusCode: 200 },
        SdkResponseMetadata: { RequestId: randomUUID() },
      };
    };
  }
  if (/^arn:aws[a-z-]*:states:::emr-serverless:startJobRun\.sync$/.test(resource)) {
    return async (input, signal) => {
      try {
        // the task's TimeoutSeconds covers the queue wait and the run; when it fires, the run is cancelled
        const jobRun = await ctx.emr.startJobRunSync(input as StartJobRunRequest, ctx.logFileFor(stateName), ctx.executionArn, { signal });
        // the integration polls the run with the state machine's role
        await ctx.authorize('EMRServerless.GetJobRun', { applicationId: jobRun.ApplicationId, jobRunId: jobRun.JobRunId });
        return jobRun;
      } catch (error) {
        if ((error as Error).name === 'AccessDeniedException') throw new TaskError('EMRServerless.AccessDeniedException', (error as Error).message);
        if (error instanceof JobRunFailedError) throw new TaskError(error.name, error.cause);
        throw new TaskError('States.TaskFailed', (error as Error).message);
      }
    };
  }
  if (/^arn:aws[a-z-]*:states:::sns:publish$/.test(resource)) {
    return async (input) => {
      const params = (input ?? {}) as { TopicArn?: string; Subject?: string; Message?: unknown; MessageAttributes?: unknown };
      let line: AlertLine;
      try {
        line = publishToTopic(ctx.deployment, ctx.alertsFile, params, { state: stateName });
      } catch (error) {
        if (error instanceof TopicNotFoundError) throw new TaskError(error.name, error.message);
        throw error;
      }
      const messageId = line.messageId;
      appendFileSync(ctx.logFileFor(stateName), `SNS publish to ${line.topicArn}\nSubject: ${line.subject}\n${line.message}\n`);
      return { MessageId: messageId, SdkHttpMetadata: { HttpStatusCode: 200 }, SdkResponseMetadata: { RequestId: randomUUID() } };
    };
  }
  throw new Error(
    `State "${stateName}" uses Resource ${resource}, which the local runner does not implement ` +
      '(supported: Lambda functions and lambda:invoke, emr-serverless:startJobRun.sync, sns:publish)',
  );
}

async function invokeLambda(stateName: string, functionRef: string, payload: unknown, ctx: TaskContext): Promise<unknown> {
  const fn = ctx.deployment.findFunction(functionRef);
  if (!fn) {
    throw new TaskError('Lambda.ResourceNotFoundException', `Function not found: ${functionRef} (Service: Lambda, Status Code: 404)`);
  }
  try {
    return await ctx.lambdas.invoke(fn, payload, { logFile: ctx.logFileFor(stateName) });
  } catch (error) {
    if (error instanceof LambdaFunctionError) {
      const { errorType, errorMessage, trace } = error.payload;
      throw new TaskError(errorType, JSON.stringify({ errorType, errorMessage, trace }));
    }
    throw new TaskError('Lambda.Unknown', (error as Error).message);
  }
}
