/**
 * What an ended recommender execution (recommender-training, drift-retrain) says about its model: the search (every
 * candidate's score), the metrics beside the baselines measured on the same split, and the gate's decision. Read
 * from the execution's output (`results.train` / `results.model.train`, `results.evaluate`, `gate`); shown by
 * `emrpipe run` (cloud and local) and the local report.
 */

import type { CliContext } from './context';

type Json = Record<string, any>;

export interface SearchSummary {
  readonly role: 'ranking' | 'rating';
  readonly objective: string;
  readonly split: string;
  readonly largerIsBetter: boolean;
  readonly best: { readonly params: Json; readonly score: number };
  readonly candidates: ReadonlyArray<{ readonly params: Json; readonly score: number }>;
}

export interface MetricRow {
  readonly metric: string;
  readonly model: number | null;
  /** The baseline the model is compared with on this metric (popularity for ranking metrics, bias for errors). */
  readonly baseline: string;
  readonly baselineValue: number | null;
  /** > 1: the model is better. */
  readonly lift: number | null;
  readonly current: number | null;
}

export interface ModelQuality {
  readonly searches: SearchSummary[];
  readonly metrics: MetricRow[];
  readonly gate?: { readonly promote: boolean; readonly reason: string };
}

const ERROR_METRICS = ['rmse', 'mae'] as const;
const RANKING_METRICS = ['precisionAtK', 'recallAtK', 'ndcgAtK', 'map', 'mapAtK'] as const;

const asNumber = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);

function trainResultOf(results: Json): Json | undefined {
  return results.train ?? results.model?.train;
}

/** The model-quality facts of an execution output; undefined when the output holds no evaluation or search. */
export function modelQualityOf(output: unknown): ModelQuality | undefined {
  if (!output || typeof output !== 'object') return undefined;
  const out = output as Json;
  const results: Json = out.results ?? {};
  const train = trainResultOf(results);
  const evaluation: Json | undefined = results.evaluate;
  const searches: SearchSummary[] = [];
  // the train job's metadata-level detail (every candidate) rides in its result's `tuning` per role
  for (const role of ['ranking', 'rating'] as const) {
    const found = train?.tuning?.[role];
    if (!found || (role === 'rating' && sameSearch(found, train.tuning.ranking))) continue;
    searches.push({
      role,
      objective: String(found.objective),
      split: String(found.split ?? 'random'),
      largerIsBetter: found.largerIsBetter ?? !(ERROR_METRICS as readonly string[]).includes(String(found.objective)),
      best: found.best,
      candidates: Array.isArray(found.scores) ? found.scores : [],
    });
  }
  const metrics: MetricRow[] = [];
  const m: Json | undefined = evaluation?.metrics;
  if (m) {
    const current: Json = evaluation?.currentModelMetrics ?? {};
    for (const metric of [...ERROR_METRICS, ...RANKING_METRICS]) {
      if (!(metric in m)) continue;
      const isError = (ERROR_METRICS as readonly string[]).includes(metric);
      const baseline = isError ? 'bias' : 'popularity';
      metrics.push({
        metric,
        model: asNumber(m[metric]),
        baseline: isError ? 'user/item bias' : 'most popular unseen',
        baselineValue: asNumber(m.baselines?.[baseline]?.[metric]),
        lift: asNumber(m.lift?.[`${metric}Vs${isError ? 'Bias' : 'Popularity'}`]),
        current: asNumber(current[metric]),
      });
    }
  }
  const gate = out.gate && typeof out.gate.promote === 'boolean' ? { promote: out.gate.promote, reason: String(out.gate.reason ?? '') } : undefined;
  if (!searches.length && !metrics.length && !gate) return undefined;
  return { searches, metrics, ...(gate ? { gate } : {}) };
}

function sameSearch(a: Json, b: Json | undefined): boolean {
  return !!b && a.objective === b.objective && JSON.stringify(a.best) === JSON.stringify(b.best);
}

const fmt = (v: number | null, digits = 4): string => (v === null ? '—' : Number.isInteger(v) ? String(v) : v.toFixed(digits));

export function formatParams(params: Json): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

/** Plain-text lines for a terminal. */
export function modelQualityLines(quality: ModelQuality): string[] {
  const lines: string[] = [];
  for (const s of quality.searches) {
    lines.push(`Search of the ${s.role} model (${s.objective}, ${s.split} validation split, ${s.candidates.length || '?'} candidates): best ${formatParams(s.best.params)} → ${fmt(s.best.score)}`);
    const ordered = [...s.candidates].sort((a, b) => (s.largerIsBetter ? b.score - a.score : a.score - b.score));
    for (const c of ordered) lines.push(`    ${fmt(c.score)}  ${formatParams(c.params)}`);
  }
  if (quality.metrics.length) {
    lines.push('Metric          model    baseline (same split)         lift   current model');
    for (const r of quality.metrics) {
      lines.push(
        `${r.metric.padEnd(14)}  ${fmt(r.model).padEnd(7)}  ${`${fmt(r.baselineValue)} ${r.baseline}`.padEnd(28)}  ${(r.lift === null ? '—' : `${r.lift.toFixed(2)}×`).padEnd(5)}  ${fmt(r.current)}`,
      );
    }
  }
  if (quality.gate) lines.push(`Gate: ${quality.gate.promote ? 'promoted' : 'kept the current model'} — ${quality.gate.reason}`);
  return lines;
}

/** Prints what a recommender execution's output says about its model (nothing for other pipelines). */
export function printModelQuality(ctx: CliContext, output: unknown): void {
  const quality = modelQualityOf(output);
  if (quality) for (const line of modelQualityLines(quality)) ctx.io.out(line);
}
