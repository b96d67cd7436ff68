import { formatParams, modelQualityOf, type ModelQuality } from '../cli/model-quality';
import { readFileSync, writeFileSync } from 'node:fs';
import type { ExecutionRecord } from './runtime';
import { formatSeconds } from './progress';
import { accessReportHtml } from './access-report';
import type { AccessReport } from './iam/access-log';
import { executionGraphHtml, GRAPH_CSS, GRAPH_SCRIPT } from './report-svg';
import { jobTimelineHtml, TIMELINE_CSS } from './report-timeline';

/**
 * The demo's summary (terminal table) and HTML report (metrics, drift decisions, counts, output locations,
 * rating histograms original vs new batches as inline SVG), built from the execution records and the job
 * results the state machines read (`$.results`).
 */
export interface DemoRun {
  /** What this run shows, e.g. "drift-retrain (drifted batch)". */
  readonly title: string;
  readonly execution: ExecutionRecord;
  /** What the run is expected to show (checked by the demo; a mismatch fails it). */
  readonly expect?: { readonly status?: 'SUCCEEDED' | 'FAILED'; readonly finalState?: string };
}

export interface Histogram {
  readonly label: string;
  /** Counts of ratings 1..5. */
  readonly counts: number[];
}

type Json = Record<string, any>;

export function results(execution: ExecutionRecord): Json {
  const data = (execution.output ?? execution.lastData ?? {}) as Json;
  return (data.results ?? {}) as Json;
}

/** Every job result of an execution, flattening Parallel groups: step key → result JSON. */
export function jobResults(execution: ExecutionRecord): Record<string, Json> {
  const out: Record<string, Json> = {};
  const visit = (obj: Json) => {
    for (const [key, value] of Object.entries(obj ?? {})) {
      if (value && typeof value === 'object' && 'job' in value && 'status' in value) out[key] = value;
      else if (value && typeof value === 'object') visit(value);
    }
  };
  visit(results(execution));
  return out;
}

export function finalState(execution: ExecutionRecord): string | undefined {
  return execution.steps.at(-1)?.name;
}

/** One line per noteworthy value of a run. */
export function highlights(run: DemoRun): string[] {
  const ex = run.execution;
  const out: string[] = [];
  const data = (ex.output ?? ex.lastData ?? {}) as Json;
  const r = jobResults(ex);
  const fmt = (v: unknown) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : String(v));
  if (r.etlTrain) out.push(`ETL train: ${fmt(r.etlTrain.counts?.valid)} valid lines, ${fmt(r.etlTrain.counts?.rejected)} rejected, ${fmt(r.etlTrain.counts?.written)} ratings`);
  if (r.createFutures) out.push(`Futures: ${fmt(r.createFutures.counts?.written ?? r.createFutures.counts?.valid)} rows → ${r.createFutures.outputs?.dataset ?? ''}`);
  if (r.driftProcess) out.push(`Batch: ${fmt(r.driftProcess.counts?.valid)} valid, ${fmt(r.driftProcess.counts?.rejected)} rejected (train ${fmt(r.driftProcess.counts?.train)} / test ${fmt(r.driftProcess.counts?.test)})`);
  if (!r.driftDetect && data.decision) out.push(`Drift decision: retrain=${data.decision.retrain} score=${fmt(data.decision.score)} (${data.status ?? 'no drift'})`);
  if (r.driftDetect) {
    const d = r.driftDetect.decision ?? {};
    out.push(`Drift decision: retrain=${d.retrain} score=${fmt(d.score)}${d.reasons?.length ? ` (${d.reasons.join('; ')})` : ''}`);
  }
  if (r.driftMerge) out.push(`Merged: train ${fmt(r.driftMerge.counts?.trainWritten ?? r.driftMerge.counts?.train)} / test ${fmt(r.driftMerge.counts?.testWritten ?? r.driftMerge.counts?.test)} ratings`);
  if (r.train) out.push(`Model: ${r.train.outputs?.model ?? ''}`);
  if (r.evaluate) {
    const m = r.evaluate.metrics ?? {};
    const metrics = ['rmse', 'mae', 'precisionAtK', 'recallAtK', 'ndcgAtK', 'map']
      .filter((k) => typeof m[k] === 'number')
      .map((k) => `${k}=${fmt(m[k])}`);
    out.push(`Evaluation: ${metrics.join(' ') || JSON.stringify(m).slice(0, 160)}`);
    const b = m.baselines ?? {};
    if (b.bias || b.popularity) {
      const lift = m.lift ?? {};
      out.push(
        `Baselines: global mean rmse=${fmt(b.globalMean?.rmse)}, user/item bias rmse=${fmt(b.bias?.rmse)} (model lift ${fmt(lift.rmseVsBias)}×); ` +
          `most popular unseen precisionAtK=${fmt(b.popularity?.precisionAtK)} ndcgAtK=${fmt(b.popularity?.ndcgAtK)} (model lift ${fmt(lift.ndcgAtKVsPopularity)}×)`,
      );
    }
    for (const s of modelQualityOf(data)?.searches ?? []) {
      out.push(`Search (${s.role} model, ${s.objective}, ${s.candidates.length} candidates): best ${formatParams(s.best.params)} → ${fmt(s.best.score)}`);
    }
    const current = r.evaluate.currentModelMetrics;
    if (current && typeof current.rmse === 'number') out.push(`Current model: rmse=${fmt(current.rmse)}`);
  }
  if (data.gate) out.push(`Gate: promote=${data.gate.promote} (${data.gate.reason ?? ''})`);
  if (data.promotion) out.push(`Promoted: ${data.promotion.modelUri ?? data.promotion.version ?? JSON.stringify(data.promotion).slice(0, 120)}`);
  if (data.check) out.push(`Pending articles: ${fmt(data.check.pending)} (${data.check.mode}${data.check.reason ? `, ${data.check.reason}` : ''})`);
  if (r.mlProcessing) out.push(`Enriched: ${Object.entries(r.mlProcessing.counts ?? {}).map(([k, v]) => `${k}=${fmt(v)}`).join(' ')} → ${r.mlProcessing.outputs?.dataset ?? ''}`);
  if (data.ingest) {
    // the Map state's {objects: [{month, uri, bytes, skipped}]}, one per month
    const objects: Array<{ bytes?: number; skipped?: boolean }> = data.ingest.objects ?? [];
    const downloaded = objects.filter((o) => !o.skipped);
    const bytes = downloaded.reduce((sum, o) => sum + (o.bytes ?? 0), 0);
    out.push(`Ingested: ${downloaded.length} month file(s), ${fmt(bytes)} bytes over HTTP${objects.length > downloaded.length ? `; ${objects.length - downloaded.length} already complete, skipped` : ''}`);
  }
  if (r.taxiPreprocess) out.push(`Taxi silver: ${Object.entries(r.taxiPreprocess.counts ?? {}).map(([k, v]) => `${k}=${fmt(v)}`).join(' ')}`);
  if (r.taxiFeatures) out.push(`Taxi gold: ${Object.entries(r.taxiFeatures.counts ?? {}).map(([k, v]) => `${k}=${fmt(v)}`).join(' ')} → ${r.taxiFeatures.outputs?.dataset ?? ''}`);
  if (ex.status === 'FAILED') out.push(`Error: ${ex.error}: ${(ex.cause ?? '').slice(0, 200)}`);
  return out;
}

export function summaryTable(runs: DemoRun[]): string {
  const rows = runs.map((run) => [
    run.title,
    run.execution.status,
    finalState(run.execution) ?? '',
    formatSeconds((run.execution.durationMs ?? 0) / 1000),
    String(run.execution.steps.filter((s) => s.name.startsWith('Run ')).length),
  ]);
  const header = ['pipeline run', 'status', 'ended in', 'time', 'spark jobs'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `│ ${cells.map((c, i) => c.padEnd(widths[i])).join(' │ ')} │`;
  const rule = (l: string, m: string, r: string) => `${l}${widths.map((w) => '─'.repeat(w + 2)).join(m)}${r}`;
  const out = [rule('┌', '┬', '┐'), line(header), rule('├', '┼', '┤'), ...rows.map(line), rule('└', '┴', '┘')];
  for (const run of runs) {
    out.push('', `${run.title} — ${run.execution.executionName}`);
    for (const h of highlights(run)) out.push(`  • ${h}`);
  }
  return out.join('\n');
}

/** Rating histograms: Netflix text (`cust,rating,date` under `movie:` lines) or CSV `DATE,CUST_ID,MOVIE_ID,RATING`. */
export function ratingHistogram(file: string, label: string): Histogram {
  const counts = [0, 0, 0, 0, 0];
  const text = readFileSync(file, 'utf8');
  const csv = text.startsWith('DATE,');
  for (const line of text.split('\n')) {
    const parts = line.trim().split(',');
    const rating = Number(csv ? parts[3] : parts.length === 3 ? parts[1] : NaN);
    if (Number.isInteger(rating) && rating >= 1 && rating <= 5) counts[rating - 1] += 1;
  }
  return { label, counts };
}

/** Grouped bar chart of rating shares (1..5) as inline SVG. */
export function histogramSvg(histograms: Histogram[]): string {
  const width = 560;
  const height = 260;
  const left = 44;
  const bottom = 34;
  const colors = ['#4e79a7', '#59a14f', '#e15759', '#f28e2b'];
  const shares = histograms.map((h) => {
    const total = h.counts.reduce((a, b) => a + b, 0) || 1;
    return h.counts.map((c) => c / total);
  });
  const max = Math.max(0.05, ...shares.flat());
  const plotH = height - bottom - 20;
  const group = (width - left - 10) / 5;
  const bar = (group - 12) / histograms.length;
  const parts: string[] = [];
  for (let tick = 0; tick <= 4; tick += 1) {
    const v = (max * tick) / 4;
    const y = 20 + plotH - (v / max) * plotH;
    parts.push(`<line x1="${left}" x2="${width - 10}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 6}" y="${(y + 4).toFixed(1)}" font-size="11" text-anchor="end">${(v * 100).toFixed(0)}%</text>`);
  }
  for (let r = 0; r < 5; r += 1) {
    const x0 = left + r * group + 6;
    shares.forEach((s, i) => {
      const h = (s[r] / max) * plotH;
      const x = x0 + i * bar;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${(20 + plotH - h).toFixed(1)}" width="${(bar - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${colors[i % colors.length]}"><title>${escapeHtml(histograms[i].label)}: rating ${r + 1}: ${(s[r] * 100).toFixed(1)}% (${histograms[i].counts[r]})</title></rect>`,
      );
    });
    parts.push(`<text x="${(x0 + (group - 12) / 2).toFixed(1)}" y="${height - bottom + 16}" font-size="12" text-anchor="middle">★${r + 1}</text>`);
  }
  const legend = histograms
    .map((h, i) => `<rect x="${left + i * 180}" y="${height - 12}" width="10" height="10" fill="${colors[i % colors.length]}"/><text x="${left + i * 180 + 14}" y="${height - 3}" font-size="11">${escapeHtml(h.label)}</text>`)
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="rating histograms">${parts.join('')}${legend}</svg>`;
}

export function writeHtmlReport(
  file: string,
  runs: DemoRun[],
  histograms: Histogram[],
  meta: { readonly totalSeconds: number; readonly root: string; readonly access?: AccessReport },
): void {
  const sections = runs.map((run, index) => {
    const r = jobResults(run.execution);
    const jobRows = Object.entries(r)
      .map(([key, res]) => {
        const metrics = Object.entries(res.metrics ?? {}).filter(([, v]) => typeof v === 'number').map(([k, v]) => `${k}=${formatNumber(v as number)}`).join(', ');
        const counts = Object.entries(res.counts ?? {}).map(([k, v]) => `${k}=${v}`).join(', ');
        const outputs = Object.values(res.outputs ?? {}).filter((v) => typeof v === 'string').join('<br>');
        return `<tr><td>${escapeHtml(key)}</td><td>${escapeHtml(res.status)}</td><td>${formatNumber(res.durationSeconds)}s</td><td>${escapeHtml(counts)}</td><td>${escapeHtml(metrics)}</td><td class="uri">${outputs}</td></tr>`;
      })
      .join('');
    const steps = run.execution.steps
      .map((s) => `<tr><td>${escapeHtml(s.name)}</td><td class="${s.status}">${s.status}</td><td>${formatSeconds((s.durationMs ?? 0) / 1000)}</td><td>${escapeHtml(s.error ?? '')}</td></tr>`)
      .join('');
    const timeline = jobTimelineHtml(run.execution);
    const decision = (r.driftDetect?.decision ?? ((run.execution.output ?? {}) as Json).decision) as Json | undefined;
    const dm = decision?.metrics ?? {};
    const driftChart = Array.isArray(dm.baselineHistogram) && Array.isArray(dm.newHistogram)
      ? `<p>What drift detection compared (test split of the current data vs the batch's):</p>${histogramSvg([{ label: 'baseline test', counts: dm.baselineHistogram }, { label: 'new batch test', counts: dm.newHistogram }])}`
      : '';
    return `<section><h2>${escapeHtml(run.title)} <small>${escapeHtml(run.execution.executionName)} · <span class="${run.execution.status === 'SUCCEEDED' ? 'succeeded' : 'failed'}">${run.execution.status}</span> · ${formatSeconds((run.execution.durationMs ?? 0) / 1000)}</small></h2>
<ul>${highlights(run).map((h) => `<li>${escapeHtml(h)}</li>`).join('')}</ul>
<h3>Execution graph</h3>
${executionGraphHtml(run.execution, index)}
${timeline ? `<h3>Job runs</h3>\n${timeline}` : ''}
${driftChart}
${modelQualityHtml(modelQualityOf(run.execution.output ?? run.execution.lastData))}
${jobRows ? `<table><tr><th>step</th><th>status</th><th>time</th><th>counts</th><th>metrics</th><th>outputs</th></tr>${jobRows}</table>` : ''}
<details><summary>states (${run.execution.steps.length})</summary><table><tr><th>state</th><th>status</th><th>time</th><th>error</th></tr>${steps}</table></details></section>`;
  });
  const html = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ML pipelines — local run report</title>
<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px;color:#222}table{border-collapse:collapse;margin:.5rem 0;font-size:13px}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}.search .best{font-weight:bold}th{background:#f4f4f4}.uri{font-family:monospace;font-size:11px}.succeeded{color:#2a7d2a}.failed,.caught{color:#b22}small{font-weight:normal;color:#666}section{margin-bottom:2rem}h3{font-size:15px;margin:1rem 0 .3rem}
${GRAPH_CSS}
${TIMELINE_CSS}</style></head><body>
<h1>ML pipelines on EMR Serverless — local run</h1>
<p>The synthesized state machines, executed by aws-local-stepfunctions with the Lambda handlers in-process and the PySpark jobs on local Spark. Total ${formatSeconds(meta.totalSeconds)}. Local S3 root: <code>${escapeHtml(meta.root)}</code>.</p>
<h2>Rating distributions: original training data vs new batches</h2>
${histogramSvg(histograms)}
<table><tr><th>data</th>${[1, 2, 3, 4, 5].map((r) => `<th>★${r}</th>`).join('')}<th>mean</th></tr>${histograms
    .map((h) => {
      const total = h.counts.reduce((a, b) => a + b, 0) || 1;
      const mean = h.counts.reduce((a, c, i) => a + c * (i + 1), 0) / total;
      return `<tr><td>${escapeHtml(h.label)}</td>${h.counts.map((c) => `<td>${c}</td>`).join('')}<td>${mean.toFixed(3)}</td></tr>`;
    })
    .join('')}</table>
${sections.join('\n')}
${meta.access ? accessReportHtml(meta.access, escapeHtml) : ''}
<script>${GRAPH_SCRIPT}</script>
</body></html>`;
  writeFileSync(file, html);
}

/** The model's search (every candidate's score) and its metrics beside the baselines on the same split. */
function modelQualityHtml(quality: ModelQuality | undefined): string {
  if (!quality) return '';
  const n = (v: number | null) => (v === null ? '—' : formatNumber(v));
  const searches = quality.searches
    .map((s) => {
      const ordered = [...s.candidates].sort((a, b) => (s.largerIsBetter ? b.score - a.score : a.score - b.score));
      const rows = ordered
        .map((c) => `<tr${JSON.stringify(c.params) === JSON.stringify(s.best.params) ? ' class="best"' : ''}><td>${n(c.score)}</td><td>${escapeHtml(formatParams(c.params))}</td></tr>`)
        .join('');
      return `<h3>Search of the ${s.role} model</h3><p>${escapeHtml(s.objective)} on a ${escapeHtml(s.split)} validation split of the training ratings; the best (bold) was refitted on all of them.</p><table class="search"><tr><th>${escapeHtml(s.objective)}</th><th>parameters</th></tr>${rows}</table>`;
    })
    .join('');
  const metrics = quality.metrics.length
    ? `<h3>Model vs baselines (same test split)</h3><table><tr><th>metric</th><th>model</th><th>baseline</th><th>lift</th><th>current model</th></tr>${quality.metrics
        .map((r) => `<tr><td>${escapeHtml(r.metric)}</td><td>${n(r.model)}</td><td>${n(r.baselineValue)} ${escapeHtml(r.baseline)}</td><td>${r.lift === null ? '—' : `${r.lift.toFixed(2)}×`}</td><td>${n(r.current)}</td></tr>`)
        .join('')}</table>`
    : '';
  return searches + metrics;
}

function formatNumber(v: number | undefined): string {
  if (typeof v !== 'number') return '';
  return Number.isInteger(v) ? String(v) : v.toFixed(4);
}

function escapeHtml(text: unknown): string {
  return String(text ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
