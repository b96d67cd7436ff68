/**
 * A recorded execution of a synthesized state machine without Spark or the local AWS: the definition runs in
 * aws-local-stepfunctions (with the runner's engine bridges) and its events feed the runner's StepTracker, so
 * the steps are what `LocalRuntime.run` records. The Task states are served by stand-ins: Validate input by the
 * real planner (`planFor`), the `.sync` job runs by a queue of `maxConcurrentRuns` slots that records their
 * QUEUED and running times, the other Lambdas and SNS by small results of the shape the definition reads.
 */
import '../../local/polyfill';
import { ExecutionError, StateMachine } from 'aws-local-stepfunctions';
import { parseStageConfig } from '../../lib/config/stage-config';
import { planFor } from '../../lib/pipelines';
import { planEnvironmentFor } from '../../lib/pipelines/common';
import { parentStates, prepareDefinition } from '../../local/engine-bridges';
import type { ExecutionRecord, JobRunSpan } from '../../local/runtime';
import { StepTracker } from '../../local/step-tracker';
import { TaskError } from '../../local/task-errors';

type Json = Record<string, any>;

export interface EngineRunOptions {
  /** The `Run <step>` state whose job run ends FAILED (States.TaskFailed, caught by the definition). */
  readonly failJob?: string;
  /** The state (any Task) whose handler throws this error instead. */
  readonly failState?: { readonly state: string; readonly error: string; readonly cause: string };
  /** Extra fields of every read-result (e.g. `{ batchStatus: 'NO_NEW_BATCH' }`). */
  readonly result?: Json;
  /** Evaluation gate's decision. @default true */
  readonly promote?: boolean;
  /** Check articles' pending count. @default 3 */
  readonly pending?: number;
  /** How long a job run runs, ms (per `Run <step>` state, or for all). @default 60 */
  readonly jobMs?: number | Readonly<Record<string, number>>;
  /** Job runs at once (others wait QUEUED). @default 1 */
  readonly maxConcurrentRuns?: number;
}

export async function runDefinition(pipeline: string, definition: Json, input: unknown, options: EngineRunOptions = {}): Promise<ExecutionRecord> {
  const executionName = `engine-${pipeline}`;
  const executionArn = `arn:aws:states:us-east-1:123456789012:execution:emr-ml-dev-${pipeline}:${executionName}`;
  const record: ExecutionRecord = {
    stateMachine: `emr-ml-dev-${pipeline}`,
    executionName,
    executionArn,
    input,
    status: 'RUNNING',
    startedAt: Date.now(),
    steps: [],
    logDir: `/tmp/${executionName}`,
    definition,
    jobRuns: [],
  };
  const env = planEnvironmentFor(parseStageConfig('dev', {}), { lakeBucket: 'dev-lake', modelsBucket: 'dev-models' });
  const queue = new SlotQueue(options.maxConcurrentRuns ?? 1);
  let jobRunCounter = 0;
  const running = new Set<{ step: string; submittedAt: number; startedAt: number }>();
  const handlers: Record<string, (input: any) => Promise<unknown>> = {};
  const prepared = prepareDefinition({ definition } as never);
  const requestFields = [...new Set([...JSON.stringify(definition).matchAll(/\$\.work\.jobRequest\.(\w+)/g)].map((m) => m[1]!))];
  for (const [name, state] of tasks(prepared)) {
    const resource = String(state.Resource ?? '');
    handlers[name] = async (payload: Json) => {
      if (options.failState?.state === name) throw new TaskError(options.failState.error, options.failState.cause);
      if (resource.includes('emr-serverless:startJobRun')) {
        const submittedAt = Date.now();
        const release = await queue.acquire();
        const startedAt = Date.now();
        const inFlight = { step: name, submittedAt, startedAt };
        running.add(inFlight);
        await sleep(typeof options.jobMs === 'number' ? options.jobMs : (options.jobMs?.[name] ?? 60));
        release();
        running.delete(inFlight);
        // the execution ended meanwhile: its job runs were cancelled (recorded below)
        if (record.endedAt !== undefined) return {};
        const failed = options.failJob === name;
        const jobRunId = `00f${String((jobRunCounter += 1)).padStart(15, '0')}`;
        const stateDetails = failed ? 'Job failed, please check complete logs in configured logging destination. ExitCode: 1. Last few exceptions: RuntimeError: injected failure' : '';
        const run: JobRunSpan = { step: name, jobRunId, name: String(payload.Name ?? name), state: failed ? 'FAILED' : 'SUCCESS', ...(failed ? { stateDetails } : {}), submittedAt, startedAt, endedAt: Date.now(), queuedMs: startedAt - submittedAt };
        record.jobRuns!.push(run);
        const jobRun = { ApplicationId: payload.ApplicationId, JobRunId: jobRunId, Name: run.name, State: run.state, StateDetails: stateDetails };
        if (failed) throw new TaskError('States.TaskFailed', JSON.stringify(jobRun));
        return jobRun;
      }
      if (resource.includes(':sns:publish')) return { MessageId: `message-${name.length}` };
      const fn = resource.split(':function:')[1] ?? '';
      if (fn.startsWith('ValidateInput')) return planFor(payload.pipeline, payload.input ?? {}, env, payload.execution);
      if (fn.startsWith('BuildJobRequest')) {
        // every field the `.sync` states read from the request (`$.work.jobRequest.<Field>`)
        const known: Json = {
          ApplicationId: '00fabc123def4567',
          ExecutionRoleArn: 'arn:aws:iam::123456789012:role/dev-emr-job-role',
          Name: `emr-ml-dev-${pipeline}-${executionName}-${payload.step ?? name}`,
          ClientToken: `${payload.step ?? name}-token`,
          ExecutionTimeoutMinutes: 120,
          Mode: 'BATCH',
          RetryPolicy: { MaxAttempts: 1 },
          JobDriver: { SparkSubmit: { EntryPoint: 's3://dev-artifacts/job.py', EntryPointArguments: [] } },
          ConfigurationOverrides: {},
          Tags: { pipeline },
        };
        return Object.fromEntries(requestFields.map((field) => [field, known[field] ?? {}]));
      }
      if (fn.startsWith('RecordJobCost')) return { usd: 0.0123 };
      if (fn.startsWith('ReadResult')) {
        return {
          job: name.replace(/^Read | result$/g, ''),
          status: 'SUCCEEDED',
          durationSeconds: 1.5,
          counts: { valid: 100, rejected: 2, written: 98 },
          metrics: { rmse: 0.91 },
          outputs: { model: 's3://dev-models/model/', manifest: 's3://dev-lake/manifest.json', dataset: 's3://dev-lake/gold/' },
          batchStatus: 'NEW_BATCH',
          decision: { retrain: true, score: 0.3, reasons: ['mean shift'] },
          ...options.result,
        };
      }
      if (fn.startsWith('EvaluationGate')) return { promote: options.promote ?? true, reason: 'rmse improved' };
      if (fn.startsWith('PromoteModel')) return { modelUri: 's3://dev-models/current/' };
      if (fn.startsWith('CheckArticles')) return { pending: options.pending ?? 3, mode: 'lake' };
      if (fn.startsWith('IngestTaxiMonth')) return { objects: (payload.months ?? []).map((month: string) => ({ month, uri: `s3://dev-lake/bronze/${month}.parquet`, bytes: 1000, skipped: false })) };
      return {};
    };
  }
  const machine = new StateMachine(prepared as never, { validationOptions: { checkPaths: true, checkArn: false } });
  const execution = machine.run(input as never, {
    overrides: { taskResourceLocalHandlers: handlers as never },
    context: { Execution: { Id: executionArn, Name: executionName, RoleArn: 'arn:aws:iam::123456789012:role/sm', RedriveCount: 0 }, StateMachine: { Id: 'sm', Name: record.stateMachine } } as never,
  });
  const tracker = new StepTracker(record, parentStates(prepared), new Map(), () => undefined);
  const consume = (async () => {
    for await (const event of execution.eventLogs as AsyncIterable<Json>) tracker.observe(event);
  })();
  try {
    record.output = await execution.result;
    record.status = 'SUCCEEDED';
  } catch (error) {
    record.status = 'FAILED';
    const inner = error instanceof ExecutionError ? (error as unknown as { cause?: { name?: string; message?: string } }).cause : undefined;
    record.error = inner?.name ?? (error as Error).name;
    record.cause = inner?.message ?? (error as Error).message;
  }
  await consume;
  record.endedAt = Date.now();
  record.durationMs = record.endedAt - record.startedAt;
  tracker.finishRunning(record.endedAt);
  // Step Functions cancels the job runs of an ended execution (the other branch of a failed Parallel)
  for (const run of running) {
    const stateDetails = 'Job run cancelled: its execution ended (or its Parallel branch failed).';
    record.jobRuns!.push({ step: run.step, jobRunId: `00c${String((jobRunCounter += 1)).padStart(15, '0')}`, name: run.step, state: 'CANCELLED', stateDetails, submittedAt: run.submittedAt, startedAt: run.startedAt, endedAt: record.endedAt, queuedMs: run.startedAt - run.submittedAt });
  }
  return record;
}

function tasks(definition: Json): Array<[string, Json]> {
  const out: Array<[string, Json]> = [];
  const visit = (def: Json | undefined) => {
    for (const [name, state] of Object.entries((def?.States ?? {}) as Record<string, Json>)) {
      if (state.Type === 'Task') out.push([name, state]);
      for (const branch of state.Branches ?? []) visit(branch);
      visit(state.ItemProcessor ?? state.Iterator);
    }
  };
  visit(definition);
  return out;
}

class SlotQueue {
  private free: number;
  private readonly waiting: Array<() => void> = [];
  constructor(slots: number) {
    this.free = slots;
  }
  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free -= 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    return () => {
      const next = this.waiting.shift();
      if (next) next();
      else this.free += 1;
    };
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A state of a definition by name, nested ones included. */
export function stateOf(definition: Record<string, any>, name: string): Record<string, any> {
  const visit = (def: any): any => {
    for (const [n, s] of Object.entries(def?.States ?? {}) as Array<[string, any]>) {
      if (n === name) return s;
      for (const child of [...(s.Branches ?? []), s.ItemProcessor ?? s.Iterator]) {
        const found = child && visit(child);
        if (found) return found;
      }
    }
    return undefined;
  };
  const state = visit(definition);
  if (!state) throw new Error(`no state ${name}`);
  return state;
}
