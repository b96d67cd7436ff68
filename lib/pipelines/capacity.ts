import { getJobDefinition, type SparkSizing } from '../jobs/catalog';
import type { StageConfig } from '../config/stage-config';
import type { JobStep, PipelineName } from './common';
import { planEnvironmentFor } from './common';
import { PIPELINES } from './index';

/**
 * Synth-time capacity check (deploy review R1): EMR Serverless limits the vCPU of all workers running at once in
 * an account ("Max concurrent vCPUs per account", 16 on a new account) and, per application, `maximumCapacity`.
 * A job run can grow to its driver plus `maxExecutors` executors (dynamic allocation), so for every group of job
 * runs a state machine runs at the same time the worst case is the sum of those, and it must fit both limits.
 *
 * Pure and CDK-free: it reads the rendered ASL of each state machine (what Step Functions runs) and the job catalog.
 * A group is one top-level state of a definition that runs Spark jobs:
 * - a `startJobRun(.sync)` Task alone (its step: state `Run <step>`, lib/pipelines/kit.ts `sparkStep`);
 * - a Parallel state: its branches run together, each at its widest state (nested Parallel/Map included);
 * - a Map state: `MaxConcurrency` copies of its iteration's widest state (0 or absent = unbounded).
 * The application's scheduler starts at most `spark.maxConcurrentRuns` job runs at once (the others queue), so a
 * group counts its largest `maxConcurrentRuns` job runs only.
 * Different executions (and different pipelines) running at the same time are not added up: the quota is checked
 * per group, as one execution at a time sees it.
 */

/** vCPU of one job run at its widest: the driver plus every executor dynamic allocation may start. */
export function jobRunVcpu(sizing: Pick<SparkSizing, 'driverCores' | 'executorCores' | 'maxExecutors'>): number {
  return sizing.driverCores + sizing.maxExecutors * sizing.executorCores;
}

/** `2 + 3×2 = 8` */
export function describeJobRunVcpu(sizing: Pick<SparkSizing, 'driverCores' | 'executorCores' | 'maxExecutors'>): string {
  return `${sizing.driverCores} + ${sizing.maxExecutors}×${sizing.executorCores} = ${jobRunVcpu(sizing)}`;
}

/** One Spark step of a plan with the sizing its job runs with. */
export interface StepSizing {
  readonly step: string;
  readonly job: string;
  readonly sizing: SparkSizing;
}

/** A Spark step inside a group, `copies` times at once (a Map's concurrency; `Infinity` = unbounded). */
export interface GroupRun extends StepSizing {
  readonly vcpu: number;
  readonly copies: number;
}

/** Job runs that run at the same time, and their worst-case vCPU. */
export interface ConcurrentGroup {
  /** The top-level state: a Parallel or Map state's name, or the Spark step's name. */
  readonly name: string;
  readonly kind: 'step' | 'parallel' | 'map';
  readonly runs: readonly GroupRun[];
  /** Worst-case vCPU: the largest `maxConcurrentRuns` job runs of the group. */
  readonly vcpu: number;
  /** Job runs the group may start at once (`Infinity` for an unbounded Map). */
  readonly jobRuns: number;
  /** Job runs counted in `vcpu` (`min(jobRuns, maxConcurrentRuns)`). */
  readonly countedRuns: number;
}

export class CapacityError extends Error {
  override readonly name = 'CapacityError';
}

type AslState = Record<string, unknown> & { Type?: string };
/** The part of an ASL document (or a Parallel branch / Map processor) the check reads. */
export interface AslGraph {
  readonly StartAt?: string;
  readonly States: Readonly<Record<string, AslState>>;
}

const START_JOB_RUN = /^arn:aws[a-z-]*:states:::emr-serverless:startJobRun(\.sync)?$/;
/** kit.ts `sparkStep` names the task `Run <step>`. */
const RUN_STATE = /^Run (.+)$/;

/**
 * Every group of concurrently running Spark job runs of a definition, in the order of its top-level states.
 * @throws CapacityError for a Spark task whose step `steps` does not know.
 */
export function concurrentGroups(
  definition: AslGraph,
  steps: readonly StepSizing[],
  options: { readonly maxConcurrentRuns?: number } = {},
): ConcurrentGroup[] {
  const byStep = new Map(steps.map((s) => [s.step, s]));
  const cap = options.maxConcurrentRuns ?? Number.POSITIVE_INFINITY;

  const stateRuns = (name: string, state: AslState): GroupRun[] => {
    if (state.Type === 'Task' && typeof state.Resource === 'string' && START_JOB_RUN.test(state.Resource)) {
      const step = RUN_STATE.exec(name)?.[1];
      const known = step === undefined ? undefined : byStep.get(step);
      if (!known) {
        throw new CapacityError(
          `state "${name}" starts an EMR Serverless job run, but no plan step matches it (known steps: ${[...byStep.keys()].join(', ') || 'none'})`,
        );
      }
      return [{ ...known, vcpu: jobRunVcpu(known.sizing), copies: 1 }];
    }
    if (state.Type === 'Parallel') {
      return ((state.Branches ?? []) as AslGraph[]).flatMap((branch) => widest(branch));
    }
    if (state.Type === 'Map') {
      const processor = (state.ItemProcessor ?? state.Iterator) as AslGraph | undefined;
      const inner = processor ? widest(processor) : [];
      const max = typeof state.MaxConcurrency === 'number' && state.MaxConcurrency > 0 ? state.MaxConcurrency : Number.POSITIVE_INFINITY;
      return inner.map((run) => ({ ...run, copies: run.copies * max }));
    }
    return [];
  };
  /** The runs of the widest state of a graph (one state runs at a time in a graph). */
  const widest = (graph: AslGraph): GroupRun[] => {
    let best: GroupRun[] = [];
    let bestVcpu = 0;
    for (const [name, state] of Object.entries(graph.States ?? {})) {
      const runs = stateRuns(name, state);
      const vcpu = cappedVcpu(runs, cap).vcpu;
      if (vcpu > bestVcpu) [best, bestVcpu] = [runs, vcpu];
    }
    return best;
  };

  const groups: ConcurrentGroup[] = [];
  for (const [name, state] of Object.entries(definition.States ?? {})) {
    const runs = stateRuns(name, state);
    if (runs.length === 0) continue;
    const kind = state.Type === 'Parallel' ? 'parallel' : state.Type === 'Map' ? 'map' : 'step';
    const { vcpu, counted, total } = cappedVcpu(runs, cap);
    groups.push({ name: kind === 'step' ? runs[0]!.step : name, kind, runs, vcpu, jobRuns: total, countedRuns: counted });
  }
  return groups;
}

/** The vCPU of the largest `cap` job runs of `runs` (each `copies` times). */
function cappedVcpu(runs: readonly GroupRun[], cap: number): { vcpu: number; counted: number; total: number } {
  const total = runs.reduce((n, r) => n + r.copies, 0);
  let left = cap;
  let vcpu = 0;
  for (const run of [...runs].sort((a, b) => b.vcpu - a.vcpu)) {
    const take = Math.min(run.copies, left);
    if (take <= 0) break;
    vcpu += take * run.vcpu;
    left -= take;
  }
  if (!Number.isFinite(vcpu)) vcpu = Number.POSITIVE_INFINITY;
  return { vcpu, counted: Math.min(total, cap), total };
}

/** The vCPU number of a capacity string (`"32 vCPU"`). @throws CapacityError for another unit. */
export function parseVcpu(capacity: string, field = 'maximumCapacity.cpu'): number {
  const match = /^(\d+) ?vCPU$/.exec(capacity.trim());
  if (!match) throw new CapacityError(`${field}: "${capacity}" is not a vCPU amount (like "32 vCPU")`);
  return Number(match[1]);
}

/** The groups of one state machine (or of the standalone job schedules) to check. */
export interface CapacityUnit {
  /** `pipeline recommender-training`, `job schedule "nightly-etl"`. */
  readonly label: string;
  readonly groups: readonly ConcurrentGroup[];
}

export interface CapacityLimits {
  /** The account's "Max concurrent vCPUs per account" quota (stage `vcpuQuota`). */
  readonly vcpuQuota: number;
  /** The application's `maximumCapacity.cpu` in vCPU. */
  readonly maximumCapacityCpu: number;
  /** For the messages: the stage the limits are from. */
  readonly stage?: string;
}

const copies = (n: number) => (Number.isFinite(n) ? `${n}×` : 'unbounded×');

/** `etl-train (etl: 2 + 3×2 = 8 vCPU)`, `2× ingest (…)` */
function describeRun(run: GroupRun): string {
  return `${run.copies === 1 ? '' : `${copies(run.copies)} `}${run.step} (${run.job}: ${describeJobRunVcpu(run.sizing)} vCPU)`;
}

/** `Parallel "ETL": etl-train (etl: 2 + 3×2 = 8 vCPU) ‖ etl-test (…) = 16 vCPU` */
export function describeGroup(group: ConcurrentGroup): string {
  const head = group.kind === 'step' ? `step "${group.name}"` : `${group.kind === 'parallel' ? 'Parallel' : 'Map'} "${group.name}"`;
  const queued = group.countedRuns < group.jobRuns ? ` (the largest ${group.countedRuns} of its ${Number.isFinite(group.jobRuns) ? group.jobRuns : 'unbounded'} job runs: spark.maxConcurrentRuns)` : '';
  return `${head}: ${group.runs.map(describeRun).join(' ‖ ')} = ${Number.isFinite(group.vcpu) ? group.vcpu : 'unbounded'} vCPU${queued}`;
}

/**
 * Every group's worst case against the account quota and the application's cap.
 * @throws CapacityError naming each unit (pipeline), group and the numbers that do not fit.
 */
export function checkCapacity(units: readonly CapacityUnit[], limits: CapacityLimits): void {
  const problems: string[] = [];
  const where = limits.stage ? `stages.${limits.stage}.` : '';
  for (const unit of units) {
    for (const group of unit.groups) {
      const over: string[] = [];
      if (group.vcpu > limits.vcpuQuota) over.push(`${where}vcpuQuota ${limits.vcpuQuota}`);
      if (group.vcpu > limits.maximumCapacityCpu) over.push(`${where}maximumCapacity.cpu ${limits.maximumCapacityCpu} vCPU`);
      if (over.length) problems.push(`${unit.label}: ${describeGroup(group)} exceeds ${over.join(' and ')}`);
    }
  }
  if (problems.length) {
    throw new CapacityError(
      `Concurrent EMR Serverless vCPU (driver + maxExecutors × executor cores per job run) do not fit: ${problems.join('; ')}. ` +
        'Size the jobs down (lib/jobs/catalog.ts, schedule overrides.sizing), or raise the account quota ' +
        '"Max concurrent vCPUs per account" (Service Quotas, EMR Serverless) and set vcpuQuota, or maximumCapacity.',
    );
  }
}

/** The sizing a job runs with: the catalog's, with a run's `overrides.sizing` over it. */
export function sizingOf(job: string, overrides?: Partial<SparkSizing>): SparkSizing {
  return { ...getJobDefinition(job).sizing, ...overrides };
}

/** Fixed execution context for planning at synth (sizing does not depend on it). */
const SYNTH_EXECUTION = { name: 'capacity-check', startTime: '2026-01-01T00:00:00Z' };

/**
 * The capacity units of a stage: each pipeline's groups (its rendered ASL + its plan's steps) and each standalone
 * job schedule (one job run, with its `overrides.sizing`).
 */
export function stageCapacityUnits(
  config: StageConfig,
  definitions: Readonly<Record<PipelineName, AslGraph>>,
  stateMachineName: (pipeline: PipelineName) => string = (p) => `emr-ml-${config.stage}-${p}`,
): CapacityUnit[] {
  const env = planEnvironmentFor(config, { lakeBucket: 'lake-bucket', modelsBucket: 'models-bucket' });
  const maxConcurrentRuns = config.spark.maxConcurrentRuns;
  const units: CapacityUnit[] = (Object.keys(definitions) as PipelineName[]).map((pipeline) => {
    const plan = PIPELINES[pipeline].plan({}, env, { ...SYNTH_EXECUTION, stateMachine: stateMachineName(pipeline) }) as unknown as {
      steps: Record<string, JobStep>;
    };
    const steps = Object.values(plan.steps).map((s) => ({ step: s.step, job: s.job, sizing: sizingOf(s.job) }));
    return { label: `pipeline ${pipeline}`, groups: concurrentGroups(definitions[pipeline], steps, { maxConcurrentRuns }) };
  });
  for (const [key, schedule] of Object.entries(config.schedules.jobs)) {
    const sizing = sizingOf(schedule.job, schedule.overrides?.sizing);
    const step = schedule.step ?? key;
    units.push({
      label: `job schedule "${key}"`,
      groups: [{ name: step, kind: 'step', runs: [{ step, job: schedule.job, sizing, vcpu: jobRunVcpu(sizing), copies: 1 }], vcpu: jobRunVcpu(sizing), jobRuns: 1, countedRuns: 1 }],
    });
  }
  return units;
}

/** {@link checkCapacity} of a stage: its `vcpuQuota` and `maximumCapacity.cpu`. */
export function checkStageCapacity(config: StageConfig, definitions: Readonly<Record<PipelineName, AslGraph>>, stateMachineName?: (pipeline: PipelineName) => string): CapacityUnit[] {
  const units = stageCapacityUnits(config, definitions, stateMachineName);
  checkCapacity(units, {
    vcpuQuota: config.vcpuQuota,
    maximumCapacityCpu: parseVcpu(config.maximumCapacity.cpu, `stages.${config.stage}.maximumCapacity.cpu`),
    stage: config.stage,
  });
  return units;
}

/**
 * A state machine's `DefinitionString` as resolved in a template (a string, or `Fn::Join` over strings and
 * intrinsics) → the ASL document, every intrinsic replaced by a placeholder string (they only ever stand for ARNs and
 * names inside string values).
 */
export function aslFromDefinitionString(definition: unknown): AslGraph {
  const render = (node: unknown): string => {
    if (typeof node === 'string') return node;
    const join = (node as Record<string, unknown> | null)?.['Fn::Join'] as [string, unknown[]] | undefined;
    if (join) return join[1].map(render).join(join[0]);
    return 'intrinsic';
  };
  return JSON.parse(render(definition)) as AslGraph;
}
