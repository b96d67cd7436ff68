import * as z from 'zod';
import {
  type GateConfig,
  type GateObjective,
  type RankingObjective,
  gateObjectiveSchema,
  isErrorObjective,
  popularityMetricOf,
} from '../../lib/pipelines/common';
import { createLogger, parseEvent } from '../shared/handler-kit';

/**
 * Evaluation gate: `{evaluation: <evaluate result>, gate: {objective, margin, minPopularityLift}}` →
 * `{promote, reason, objective, candidate, current, margin, popularityMetric, popularity, popularityLift,
 * minPopularityLift}`. Promote when both hold:
 *
 * (a) the candidate is no worse than the current model on the objective by more than `margin`: candidate ≤
 *     current + margin for an error objective (rmse, mae), candidate ≥ current − margin for a ranking one; no
 *     current model (or one without a value for the objective) passes;
 * (b) the candidate reaches `minPopularityLift` × the popularity baseline (`metrics.baselines.popularity`) on the
 *     popularity metric — the objective when it is a ranking metric, else ndcgAtK; `minPopularityLift` 0 disables
 *     (b), a missing popularity baseline otherwise refuses.
 *
 * A candidate without a value for a metric the gate needs (the job writes null when it could not compute one) is
 * refused. Comparisons allow a relative 1e-9 of floating-point slack, so "exactly 1.1×" passes 1.1×.
 */
const logger = createLogger('evaluation-gate');

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
/** A metric of the evaluate result: null when the job could not compute it (no predicted rows, no ranked user). */
const metricValue = finite.nullable().optional();

const modelMetricsSchema = z
  .object({
    rmse: metricValue,
    mae: metricValue,
    ndcgAtK: metricValue,
    precisionAtK: metricValue,
    recallAtK: metricValue,
    map: metricValue,
    mapAtK: metricValue,
  })
  .passthrough();

const popularitySchema = z
  .object({ ndcgAtK: metricValue, precisionAtK: metricValue, recallAtK: metricValue, map: metricValue, mapAtK: metricValue })
  .passthrough();

const gateSchema = z
  .object({ objective: gateObjectiveSchema, margin: z.number().min(0), minPopularityLift: z.number().min(0) })
  .strict();

const EventSchema = z
  .object({
    evaluation: z
      .object({
        status: z.literal('SUCCEEDED'),
        metrics: modelMetricsSchema.extend({
          baselines: z.object({ popularity: popularitySchema.nullable().optional() }).passthrough().optional(),
        }),
        currentModelMetrics: modelMetricsSchema.nullable().optional(),
      })
      .passthrough(),
    gate: gateSchema,
  })
  .superRefine(({ evaluation, gate }, ctx) => {
    // The metrics the chosen objective needs must be there (null is allowed: the job could not compute it).
    const need = (present: boolean, path: (string | number)[], message: string) => {
      if (!present) ctx.addIssue({ code: 'custom', path: ['evaluation', ...path], message });
    };
    const { metrics, currentModelMetrics } = evaluation;
    need(metrics[gate.objective] !== undefined, ['metrics', gate.objective], `required: the gate's objective (null when the job computed none)`);
    if (currentModelMetrics) {
      need(currentModelMetrics[gate.objective] !== undefined, ['currentModelMetrics', gate.objective], `required: the gate's objective (null when the job computed none)`);
    }
    if (gate.minPopularityLift > 0) {
      const metric = popularityMetricOf(gate.objective);
      const why = `required while gate.minPopularityLift > 0 (the popularity check compares ${metric})`;
      if (metric !== gate.objective) need(metrics[metric] !== undefined, ['metrics', metric], why);
      need(metrics.baselines !== undefined, ['metrics', 'baselines'], why);
      if (metrics.baselines) {
        const popularity = metrics.baselines.popularity;
        need(popularity !== undefined, ['metrics', 'baselines', 'popularity'], `${why}; null when there is no popularity baseline`);
        if (popularity) need(popularity[metric] !== undefined, ['metrics', 'baselines', 'popularity', metric], why);
      }
    }
  });

/** A model's metrics as the evaluate job writes them (`metrics`, `currentModelMetrics`). */
export type ModelMetrics = Readonly<Partial<Record<GateObjective, number | null>>>;
/** The candidate's metrics, with the baselines the evaluate job computed on the same split. */
export type CandidateMetrics = ModelMetrics & {
  readonly baselines?: { readonly popularity?: Readonly<Partial<Record<RankingObjective, number | null>>> | null };
};

export interface GateDecision {
  readonly promote: boolean;
  /** One sentence naming every number the decision used. */
  readonly reason: string;
  readonly objective: GateObjective;
  /** The candidate's value of the objective. */
  readonly candidate: number | null;
  /** The current model's value of the objective; null without a current model. */
  readonly current: number | null;
  readonly margin: number;
  /** The ranking metric the popularity check compares: the objective, or ndcgAtK for rmse/mae. */
  readonly popularityMetric: RankingObjective;
  /** The popularity baseline's value of `popularityMetric`; null when there is none. */
  readonly popularity: number | null;
  /** The candidate's `popularityMetric` / the popularity baseline's (>1 = better than popularity); null when either is missing or the baseline is 0. */
  readonly popularityLift: number | null;
  readonly minPopularityLift: number;
}

/** Relative floating-point slack of the comparisons. */
const EPSILON = 1e-9;
const atMost = (a: number, b: number) => a <= b + EPSILON * Math.max(1, Math.abs(b));
const atLeast = (a: number, b: number) => a >= b - EPSILON * Math.max(1, Math.abs(b));
/** A number for the reason: at most 6 significant digits (no 0.9200000000000001). */
const fmt = (x: number) => String(Number(x.toPrecision(6)));
const valueOf = (metrics: ModelMetrics | null | undefined, metric: GateObjective): number | null => metrics?.[metric] ?? null;

interface Check {
  readonly ok: boolean;
  readonly text: string;
}

/** (a): the candidate against the current model on the objective. */
function againstCurrent(objective: GateObjective, candidate: number | null, current: number | null, hasCurrent: boolean, margin: number): Check {
  if (candidate === null) return { ok: false, text: `the candidate has no ${objective} value (the evaluation computed none)` };
  if (!hasCurrent) return { ok: true, text: `candidate ${objective} ${fmt(candidate)}, no current model to compare with` };
  if (current === null) return { ok: true, text: `candidate ${objective} ${fmt(candidate)}, the current model has no ${objective} value to compare with` };
  if (isErrorObjective(objective)) {
    const limit = current + margin;
    return atMost(candidate, limit)
      ? { ok: true, text: `candidate ${objective} ${fmt(candidate)} ≤ current ${fmt(current)} + margin ${fmt(margin)} = ${fmt(limit)}` }
      : { ok: false, text: `candidate ${objective} ${fmt(candidate)} > current ${fmt(current)} + margin ${fmt(margin)} = ${fmt(limit)} (worse than the current model beyond the margin)` };
  }
  const limit = current - margin;
  return atLeast(candidate, limit)
    ? { ok: true, text: `candidate ${objective} ${fmt(candidate)} ≥ current ${fmt(current)} − margin ${fmt(margin)} = ${fmt(limit)}` }
    : { ok: false, text: `candidate ${objective} ${fmt(candidate)} < current ${fmt(current)} − margin ${fmt(margin)} = ${fmt(limit)} (worse than the current model beyond the margin)` };
}

/** (b): the candidate against the popularity baseline on the popularity metric. */
function againstPopularity(metric: RankingObjective, candidate: number | null, popularity: number | null, hasBaseline: boolean, minLift: number): Check {
  if (minLift === 0) return { ok: true, text: 'popularity check disabled (minPopularityLift 0)' };
  if (!hasBaseline) {
    return { ok: false, text: `no popularity baseline in the evaluation (metrics.baselines.popularity is null), so minPopularityLift ${fmt(minLift)} cannot be checked` };
  }
  if (popularity === null) {
    return { ok: false, text: `the popularity baseline has no ${metric} value, so minPopularityLift ${fmt(minLift)} cannot be checked` };
  }
  if (candidate === null) return { ok: false, text: `the candidate has no ${metric} value to compare with popularity ${fmt(popularity)}` };
  const required = minLift * popularity;
  const lift = popularity > 0 ? ` (lift ${fmt(candidate / popularity)}×)` : '';
  return atLeast(candidate, required)
    ? { ok: true, text: `candidate ${metric} ${fmt(candidate)} ≥ ${fmt(minLift)} × popularity ${fmt(popularity)} = ${fmt(required)}${lift}` }
    : { ok: false, text: `candidate ${metric} ${fmt(candidate)} < ${fmt(minLift)} × popularity ${fmt(popularity)} = ${fmt(required)}${lift}: it does not beat the popularity baseline by the required lift` };
}

/**
 * The pure decision on the evaluate result's `metrics` (with `baselines`) and `currentModelMetrics` (null: no
 * promoted model).
 */
export function decide(candidateMetrics: CandidateMetrics, currentMetrics: ModelMetrics | null, gate: GateConfig): GateDecision {
  const { objective, margin, minPopularityLift } = gate;
  const candidate = valueOf(candidateMetrics, objective);
  const current = valueOf(currentMetrics, objective);
  const popularityMetric = popularityMetricOf(objective);
  const baseline = candidateMetrics.baselines?.popularity ?? null;
  const popularity = baseline?.[popularityMetric] ?? null;
  const candidateRanking = valueOf(candidateMetrics, popularityMetric);
  const popularityLift = candidateRanking !== null && popularity !== null && popularity > 0 ? candidateRanking / popularity : null;

  const a = againstCurrent(objective, candidate, current, currentMetrics !== null, margin);
  const b = againstPopularity(popularityMetric, candidateRanking, popularity, baseline !== null, minPopularityLift);
  const promote = a.ok && b.ok;
  const reason = `${promote ? 'promoted' : currentMetrics ? 'not promoted, keeping the current model' : 'not promoted'}: ${a.text}; ${b.text}`;
  return { promote, reason, objective, candidate, current, margin, popularityMetric, popularity, popularityLift, minPopularityLift };
}

export async function handler(event: unknown): Promise<GateDecision> {
  const { evaluation, gate } = parseEvent(EventSchema, event);
  const decision = decide(evaluation.metrics, evaluation.currentModelMetrics ?? null, gate);
  logger.info('evaluation gate', { ...decision });
  return decision;
}
