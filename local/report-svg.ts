import type { ExecutionRecord } from './runtime';
import { END, executionGraph, type GraphNode, type NodeStatus, shorten } from './report-graph';
import { formatMs, type LaidEdge, type LaidNode, type LaidScope, layoutScope, NAME_CHAR_PX, subtitle } from './report-layout';

/**
 * An execution drawn as its state machine's graph (inline SVG, no external resource): states colored by status,
 * the transitions taken drawn bold, the others thin, Catch edges dashed, each Choice rule's label on its edge.
 * A click on a state shows its details (name, type, status, entries, attempts, time, error, cause) beside the
 * graph; without script the same text is the state's tooltip.
 */
export const STATUS_LABELS: Record<NodeStatus, string> = {
  succeeded: 'succeeded',
  failed: 'failed',
  caught: 'caught (error handled)',
  running: 'running',
  cancelled: 'stopped when the execution ended',
  'not-entered': 'not entered',
};

export function executionGraphHtml(execution: ExecutionRecord, index: number): string {
  const definition = execution.definition as Record<string, any> | undefined;
  if (!definition) return '<p class="sfn-none">(no state machine definition recorded for this execution)</p>';
  const graph = executionGraph(definition, execution.steps, { ended: execution.status !== 'RUNNING' });
  const laid = layoutScope(graph);
  const id = `sfn${index}`;
  const legend = (Object.keys(STATUS_LABELS) as NodeStatus[])
    .map((s) => `<span class="sfn-key st-${s}"><i></i>${STATUS_LABELS[s]}</span>`)
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" class="sfn-graph" width="${Math.ceil(laid.w)}" height="${Math.ceil(laid.h)}" viewBox="0 0 ${Math.ceil(laid.w)} ${Math.ceil(laid.h)}" role="img" aria-label="state machine graph of ${esc(execution.executionName)}">
<defs>${['taken', 'untaken', 'caught'].map((k) => `<marker id="${id}-${k}" class="sfn-arrow ${k}" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="10" markerHeight="10" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z"/></marker>`).join('')}</defs>
${scopeSvg(laid, id)}</svg>`;
  return `<figure class="sfn-figure" data-execution="${esc(execution.executionName)}" data-state-machine="${esc(execution.stateMachine)}">
<figcaption class="sfn-legend">${legend}<span class="sfn-key"><b class="edge taken"></b>path taken</span><span class="sfn-key"><b class="edge untaken"></b>not taken</span><span class="sfn-key"><b class="edge catch"></b>Catch</span></figcaption>
<div class="sfn-body"><div class="sfn-scroll">${svg}</div><div class="sfn-detail" aria-live="polite">Click a state for its details.</div></div></figure>`;
}

function scopeSvg(scope: LaidScope, id: string): string {
  const edges = [...scope.edges].sort((a, b) => Number(a.edge.taken) - Number(b.edge.taken));
  return `${edges.map((e) => edgeSvg(e, id)).join('')}${edges.map(labelSvg).join('')}${scope.nodes.map((n) => nodeSvg(n, id)).join('')}`;
}

function edgeSvg(laid: LaidEdge, id: string): string {
  const { edge } = laid;
  const caught = edge.kind === 'catch';
  const cls = ['sfn-edge', `e-${edge.kind}`, edge.taken ? 'taken' : 'untaken', edge.alsoCatch ? 'also-catch' : ''].filter(Boolean).join(' ');
  const arrow = edge.taken ? (caught ? 'caught' : 'taken') : 'untaken';
  const from = edge.from.startsWith('(') ? edge.from.slice(1, -1) : edge.from;
  const to = edge.to.startsWith('(') ? edge.to.slice(1, -1) : edge.to;
  const tip = `${from} → ${to}${edge.detail ? `: ${edge.detail}` : ''}${edge.taken ? ' (taken)' : ''}`;
  return `<path class="${cls}" data-edge="${esc(`${edge.from}→${edge.to}`)}" d="${pathData(laid)}"${dashOffset(laid)} marker-end="url(#${id}-${arrow})"><title>${esc(tip)}</title></path>`;
}

/**
 * Catch edges to one target share their gutter lane: the dashes of each are shifted to line up with the
 * page's y there (pattern period 8), so the shared stretch stays dashed instead of looking solid.
 */
function dashOffset(laid: LaidEdge): string {
  if (laid.route === 'direct' || laid.edge.kind !== 'catch') return '';
  const p = laid.points;
  let best = -1;
  for (let i = 1; i < p.length; i += 1) if (p[i - 1]![0] === p[i]![0] && (best < 0 || Math.abs(p[i]![1] - p[i - 1]![1]) > Math.abs(p[best]![1] - p[best - 1]![1]))) best = i;
  if (best < 0) return '';
  let before = 0;
  for (let i = 1; i < best; i += 1) before += Math.hypot(p[i]![0] - p[i - 1]![0], p[i]![1] - p[i - 1]![1]);
  const [, y0] = p[best - 1]!;
  const [, y1] = p[best]!;
  // pattern position at a point y of the lane: before + |y - y0| + offset ≡ y (down) or -y (up), mod 8
  const offset = y1 >= y0 ? y0 - before : -y0 - before;
  return ` stroke-dashoffset="${(((offset % 8) + 8) % 8).toFixed(1)}"`;
}

function pathData(laid: LaidEdge): string {
  const p = laid.points;
  const f = (n: number) => n.toFixed(1);
  let d = `M${f(p[0]![0])},${f(p[0]![1])}`;
  for (let i = 1; i < p.length; i += 1) {
    const [x0, y0] = p[i - 1]!;
    const [x1, y1] = p[i]!;
    if (laid.route !== 'direct' || x0 === x1) d += `L${f(x1)},${f(y1)}`;
    else {
      const dy = (y1 - y0) / 2;
      d += `C${f(x0)},${f(y0 + dy)} ${f(x1)},${f(y1 - dy)} ${f(x1)},${f(y1)}`;
    }
  }
  return d;
}

function labelSvg(laid: LaidEdge): string {
  if (!laid.labelAt || !laid.edge.label) return '';
  const [x, y] = laid.labelAt;
  const text = laid.edge.label;
  const w = text.length * 5.6 + 10;
  return `<g class="sfn-label ${laid.edge.taken ? 'taken' : 'untaken'}" data-edge="${esc(`${laid.edge.from}→${laid.edge.to}`)}"><rect x="${(x - w / 2).toFixed(1)}" y="${(y - 10).toFixed(1)}" width="${w.toFixed(1)}" height="14" rx="3"/><text x="${x.toFixed(1)}" y="${(y + 1).toFixed(1)}">${esc(text)}</text></g>`;
}

function nodeSvg(laid: LaidNode, id: string): string {
  const { node, x, y, w, h } = laid;
  const f = (n: number) => n.toFixed(1);
  if (node.type === 'Start' || node.type === 'End') {
    return `<g class="sfn-marker st-${node.status}" data-marker="${node.name === END ? 'end' : 'start'}"><rect x="${f(x)}" y="${f(y)}" width="${w}" height="${h}" rx="${h / 2}"/><text x="${f(x + w / 2)}" y="${f(y + h / 2 + 4)}">${node.type}</text></g>`;
  }
  const attrs = `class="sfn-state st-${node.status}${laid.children.length ? ' sfn-compound' : ''}" data-state="${esc(node.name)}" data-status="${node.status}" data-type="${esc(node.type)}" tabindex="0"`;
  const title = `<title>${esc(details(node).join('\n'))}</title>`;
  if (!laid.children.length) {
    const chars = Math.floor((w - 16) / NAME_CHAR_PX);
    return `<g ${attrs}>${title}<rect x="${f(x)}" y="${f(y)}" width="${w}" height="${h}" rx="6"/><text class="nm" x="${f(x + w / 2)}" y="${f(y + 18)}">${esc(shorten(node.name, chars))}</text><text class="sub" x="${f(x + w / 2)}" y="${f(y + 34)}">${esc(shorten(subtitle(node), Math.floor((w - 12) / 5.6)))}</text></g>`;
  }
  const head = `${node.type}: ${node.name}${node.entries > 1 ? ` ×${node.entries}` : ''}${node.durationMs !== undefined ? ` · ${formatMs(node.durationMs)}` : ''}`;
  const children = laid.children
    .map(({ dx, dy, scope }) => `<g class="sfn-branch" transform="translate(${f(x + dx)},${f(y + dy)})"><rect class="sfn-branch-bg" width="${f(scope.w)}" height="${f(scope.h)}" rx="6"/><text class="sfn-branch-label" x="6" y="11">${esc(scope.scope.label)}</text>${scopeSvg(scope, id)}</g>`)
    .join('');
  return `<g ${attrs}>${title}<rect x="${f(x)}" y="${f(y)}" width="${f(w)}" height="${f(h)}" rx="8"/><text class="nm head" x="${f(x + 10)}" y="${f(y + 18)}">${esc(shorten(head, Math.floor((w - 20) / NAME_CHAR_PX)))}</text></g>${children}`;
}

/** The lines of a state's tooltip and detail panel. */
export function details(node: GraphNode): string[] {
  const lines = [node.name, `${node.type}${node.resource ? ` · ${node.resource}` : ''}`, `status: ${STATUS_LABELS[node.status]}`];
  if (node.entries > 0) lines.push(`entered ${node.entries}×, ${node.attempts} attempt${node.attempts === 1 ? '' : 's'}`);
  if (node.durationMs !== undefined) lines.push(`time: ${formatMs(node.durationMs)}`);
  if (node.error) lines.push(`error: ${node.error}`);
  if (node.cause) lines.push(`cause: ${shorten(node.cause, 600)}`);
  if (node.comment) lines.push(node.comment);
  return lines;
}

/** The graph's style and its click handler: once per report. */
export const GRAPH_CSS = `.sfn-figure{margin:.5rem 0 1rem}.sfn-legend{font-size:12px;color:#444;display:flex;flex-wrap:wrap;gap:.3rem 1rem;margin-bottom:.3rem}
.sfn-key i{display:inline-block;width:12px;height:12px;border:1.5px solid #999;border-radius:3px;vertical-align:-2px;margin-right:4px}.sfn-key b.edge{display:inline-block;width:22px;height:0;border-top:2.5px solid #1f6feb;vertical-align:middle;margin-right:4px}.sfn-key b.edge.untaken{border-top:1.5px solid #b5bcc6}.sfn-key b.edge.catch{border-top:2px dashed #d9822b}
.sfn-body{display:flex;gap:1rem;align-items:flex-start}.sfn-scroll{overflow:auto;max-height:85vh;border:1px solid #e3e6ea;border-radius:6px;background:#fbfcfd;flex:0 1 auto}.sfn-detail{font-size:12px;min-width:220px;max-width:340px;white-space:pre-wrap;word-break:break-word;color:#333;position:sticky;top:1rem}.sfn-detail div:first-child{font-weight:600;font-size:13px}
.sfn-graph text{font-family:system-ui,sans-serif;text-anchor:middle}.sfn-graph .nm{font-size:12px;font-weight:600;fill:#1d2733}.sfn-graph .nm.head{text-anchor:start}.sfn-graph .sub{font-size:10px;fill:#5b6673}
.sfn-state,.sfn-marker{cursor:pointer}.sfn-state rect,.sfn-marker rect{stroke-width:1.5}.sfn-state:focus{outline:none}.sfn-state.selected>rect,.sfn-state:focus>rect{stroke-width:3}
.st-succeeded rect{fill:#e7f5ea;stroke:#2e7d32}.st-failed rect{fill:#fdeaea;stroke:#c62828}.st-caught rect{fill:#fff3e0;stroke:#e67e00}
.sfn-key.st-succeeded i{background:#e7f5ea;border-color:#2e7d32}.sfn-key.st-failed i{background:#fdeaea;border-color:#c62828}.sfn-key.st-caught i{background:#fff3e0;border-color:#e67e00}.sfn-key.st-running i{background:#e3f0fd;border-color:#1565c0}.sfn-key.st-cancelled i{background:#eef0f2;border-color:#6b7480;border-style:dashed}.sfn-key.st-not-entered i{background:#fff;border-color:#c3c9d1}
.st-running rect{fill:#e3f0fd;stroke:#1565c0}.st-running rect{animation:sfn-pulse 1.2s ease-in-out infinite alternate}@keyframes sfn-pulse{to{fill:#bcdcfb}}
.st-cancelled rect{fill:#eef0f2;stroke:#6b7480;stroke-dasharray:4 2}.st-not-entered rect{fill:#fff;stroke:#c3c9d1}.st-not-entered .nm{fill:#7b8694}.st-not-entered .sub{fill:#9aa3ad}
.sfn-compound>rect{fill-opacity:.35}.sfn-branch-bg{fill:#fff;fill-opacity:.7;stroke:#d5dae0;stroke-dasharray:3 3}.sfn-branch-label{font-size:9px;fill:#8a94a0;text-anchor:start!important}
.sfn-marker text{font-size:11px;fill:#333}.sfn-marker.st-not-entered text{fill:#999}
.sfn-edge{fill:none}.sfn-edge.untaken{stroke:#b5bcc6;stroke-width:1.2}.sfn-edge.taken{stroke:#1f6feb;stroke-width:2.6}.sfn-edge.e-catch{stroke-dasharray:5 3}.sfn-edge.e-catch.untaken{stroke:#e2c7a6}.sfn-edge.e-catch.taken{stroke:#d9822b}
.sfn-arrow.taken path{fill:#1f6feb}.sfn-arrow.untaken path{fill:#b5bcc6}.sfn-arrow.caught path{fill:#d9822b}
.sfn-label rect{fill:#fff;stroke:#dde1e6}.sfn-label text{font-size:10px;fill:#69737f}.sfn-label.taken rect{stroke:#1f6feb}.sfn-label.taken text{fill:#1f6feb;font-weight:600}`;

export const GRAPH_SCRIPT = `(function(){function show(g){var fig=g.closest('.sfn-figure');if(!fig)return;var panel=fig.querySelector('.sfn-detail');fig.querySelectorAll('.sfn-state.selected').forEach(function(n){n.classList.remove('selected')});g.classList.add('selected');var t=g.querySelector('title');panel.textContent='';(t?t.textContent:'').split('\\n').forEach(function(line){var d=document.createElement('div');d.textContent=line;panel.appendChild(d)})}
document.addEventListener('click',function(e){var g=e.target.closest&&e.target.closest('.sfn-state');if(g)show(g)});document.addEventListener('keydown',function(e){if(e.key==='Enter'&&e.target.classList&&e.target.classList.contains('sfn-state'))show(e.target)})})();`;

function esc(text: unknown): string {
  return String(text ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
