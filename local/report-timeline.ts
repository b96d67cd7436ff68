import type { ExecutionRecord, JobRunSpan, StepRecord } from './runtime';
import { formatMs } from './report-layout';

/**
 * The EMR Serverless job runs of an execution on one time axis (inline SVG): per run its time QUEUED (submitted →
 * left the queue) and running (→ ended, colored by its final state), over the span of the Task state that
 * waited for it (`.sync`, retries included). Records written before job runs were recorded only have the task
 * spans of the `startJobRun.sync` states; those are drawn alone.
 */
interface Row {
  readonly label: string;
  readonly task?: StepRecord;
  readonly run?: JobRunSpan;
}

const LEFT = 190;
const RIGHT = 270;
const PLOT = 560;
const ROW = 24;
const TOP = 26;

export function jobTimelineHtml(execution: ExecutionRecord): string {
  const rows = timelineRows(execution);
  if (!rows.length) return '';
  const t0 = execution.startedAt;
  const ends = rows.flatMap((r) => [r.run?.endedAt, r.task?.endedAt, r.task?.startedAt]).filter((t): t is number => typeof t === 'number');
  const t1 = Math.max(execution.endedAt ?? 0, ...ends, t0 + 100);
  const scale = PLOT / (t1 - t0);
  const X = (t: number) => LEFT + (t - t0) * scale;
  const f = (n: number) => n.toFixed(1);
  const height = TOP + rows.length * ROW + 30;
  const width = LEFT + PLOT + RIGHT;
  const parts: string[] = [];
  const step = niceStep((t1 - t0) / 8);
  for (let t = 0; t <= t1 - t0; t += step) {
    const x = X(t0 + t);
    parts.push(`<line class="jr-grid" x1="${f(x)}" x2="${f(x)}" y1="${TOP - 6}" y2="${height - 24}"/><text class="jr-tick" x="${f(x)}" y="${height - 10}">${formatMs(t)}</text>`);
  }
  rows.forEach((row, i) => {
    const y = TOP + i * ROW;
    const cells: string[] = [`<text class="jr-name" x="${LEFT - 8}" y="${y + 15}">${esc(row.label)}</text>`];
    if (row.task) {
      const end = row.task.endedAt ?? t1;
      cells.push(`<rect class="jr-task${row.task.status === 'failed' || row.task.status === 'caught' ? ' jr-task-failed' : ''}" x="${f(X(row.task.startedAt))}" y="${y + 15}" width="${f(Math.max(1, X(end) - X(row.task.startedAt)))}" height="4"><title>${esc(`task ${row.task.name}: ${formatMs(end - row.task.startedAt)} (${row.task.status}, ${row.task.attempts} attempt${row.task.attempts === 1 ? '' : 's'})`)}</title></rect>`);
    }
    const notes: string[] = [];
    if (row.run) {
      const run = row.run;
      const left = run.startedAt ?? run.endedAt;
      if (left > run.submittedAt) {
        cells.push(`<rect class="jr-queued" x="${f(X(run.submittedAt))}" y="${y + 3}" width="${f(Math.max(1, X(left) - X(run.submittedAt)))}" height="12"><title>${esc(`${run.jobRunId} QUEUED ${formatMs(left - run.submittedAt)}`)}</title></rect>`);
      }
      if (run.startedAt !== undefined) {
        cells.push(`<rect class="jr-run jr-${run.state}" x="${f(X(run.startedAt))}" y="${y + 3}" width="${f(Math.max(1.5, X(run.endedAt) - X(run.startedAt)))}" height="12"><title>${esc(`${run.jobRunId} (${run.name}) running ${formatMs(run.endedAt - run.startedAt)} → ${run.state}${run.stateDetails ? `: ${run.stateDetails.slice(0, 300)}` : ''}`)}</title></rect>`);
        notes.push(`ran ${formatMs(run.endedAt - run.startedAt)}`);
      } else {
        notes.push('never started');
      }
      notes.push(`queued ${formatMs(run.queuedMs)}`, run.state);
    } else if (row.task) {
      notes.push(`task ${formatMs((row.task.endedAt ?? t1) - row.task.startedAt)}`, 'job-run times not recorded');
    }
    cells.push(`<text class="jr-note" x="${LEFT + PLOT + 8}" y="${y + 13}">${esc(notes.join(' · '))}</text>`);
    parts.push(`<g class="jr-row" data-step="${esc(row.label)}"${row.run ? ` data-job-run="${esc(row.run.jobRunId)}" data-job-state="${row.run.state}"` : ''}>${cells.join('')}</g>`);
  });
  const legend = `<text class="jr-legend" x="${LEFT}" y="12"><tspan class="k-q">■</tspan> queued  <tspan class="k-s">■</tspan> running → SUCCESS  <tspan class="k-f">■</tspan> FAILED  <tspan class="k-c">■</tspan> CANCELLED  <tspan class="k-t">▬</tspan> the Task state (.sync)</text>`;
  return `<div class="jr-timeline"><svg xmlns="http://www.w3.org/2000/svg" class="jr-svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="job run timeline">${legend}${parts.join('')}</svg></div>`;
}

/** One row per job run (labelled by its Task state, `(attempt n)` for a retried one); else per `.sync` task entry. */
export function timelineRows(execution: ExecutionRecord): Row[] {
  const runs = execution.jobRuns ?? [];
  const tasks = syncTaskSteps(execution);
  if (runs.length) {
    const seen = new Map<string, number>();
    return runs.map((run) => {
      const n = (seen.get(run.step) ?? 0) + 1;
      seen.set(run.step, n);
      const task = tasks.find((s) => s.name === run.step && s.startedAt <= run.submittedAt && (s.endedAt ?? Infinity) >= run.submittedAt) ?? tasks.find((s) => s.name === run.step);
      const retried = runs.filter((r) => r.step === run.step).length > 1;
      return { label: retried ? `${run.step} (attempt ${n})` : run.step, task, run };
    });
  }
  return tasks.map((task) => ({ label: task.name, task }));
}

function syncTaskSteps(execution: ExecutionRecord): StepRecord[] {
  const sync = new Set<string>();
  const visit = (def: Record<string, any> | undefined) => {
    for (const [name, state] of Object.entries((def?.States ?? {}) as Record<string, any>)) {
      if (String(state.Resource ?? '').includes('emr-serverless:startJobRun')) sync.add(name);
      for (const branch of state.Branches ?? []) visit(branch);
      visit(state.ItemProcessor ?? state.Iterator);
    }
  };
  visit(execution.definition as Record<string, any> | undefined);
  // without a definition, the project's naming: every job task is `Run <step>`
  return execution.steps.filter((s) => s.type === 'Task' && (execution.definition ? sync.has(s.name) : s.name.startsWith('Run ')));
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  for (const m of [1, 2, 5, 10]) if (raw <= m * p) return m * p;
  return 10 * p;
}

export const TIMELINE_CSS = `.jr-timeline{overflow-x:auto;margin:.3rem 0 1rem}.jr-svg text{font-family:system-ui,sans-serif;font-size:11px}.jr-name{text-anchor:end;fill:#222}.jr-note{fill:#555;font-size:10.5px}
.jr-tick{text-anchor:middle;fill:#777;font-size:10px}.jr-grid{stroke:#eceff2}.jr-task{fill:#9aa5b1}.jr-task-failed{fill:#e57373}.jr-queued{fill:#f6c453;fill-opacity:.75;stroke:#d49a00;stroke-dasharray:2 2}
.jr-run{stroke-width:1}.jr-SUCCESS{fill:#43a047;stroke:#2e7d32}.jr-FAILED{fill:#e53935;stroke:#b71c1c}.jr-CANCELLED{fill:#9e9e9e;stroke:#616161}
.jr-legend{fill:#444}.k-q{fill:#f6c453}.k-s{fill:#43a047}.k-f{fill:#e53935}.k-c{fill:#9e9e9e}.k-t{fill:#9aa5b1}`;

function esc(text: unknown): string {
  return String(text ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
