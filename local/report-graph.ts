import type { StepRecord } from './runtime';

/**
 * The graph of one execution, as the Step Functions console's graph view draws it: every state of the definition
 * (states of Parallel branches and of a Map's item processor nested in their parent), the transitions between
 * them (Next, a Choice's rules and Default, Catch) and, from the execution's step records, each state's status
 * and which transitions the execution took. Layout: report-layout.ts; drawing: report-svg.ts.
 */
export type NodeStatus = 'succeeded' | 'failed' | 'caught' | 'running' | 'cancelled' | 'not-entered';
export type EdgeKind = 'next' | 'choice' | 'default' | 'catch' | 'start' | 'end';

export interface GraphEdge {
  readonly from: string;
  readonly to: string;
  readonly kind: EdgeKind;
  /** Short text drawn on the edge (a Choice rule, `Default`). */
  readonly label?: string;
  /** Full text (the rule, the caught errors). */
  detail?: string;
  /** A Catch of the source leads to the same target as this (non-catch) edge. */
  alsoCatch?: boolean;
  taken: boolean;
}

export interface GraphNode {
  readonly name: string;
  /** ASL type; `Start`/`End` for the markers of the top-level graph. */
  readonly type: string;
  readonly status: NodeStatus;
  /** How many times the state was entered (Map iterations, loops). */
  readonly entries: number;
  readonly attempts: number;
  readonly durationMs?: number;
  readonly error?: string;
  readonly cause?: string;
  /** What runs a Task (`Lambda ValidateInput…`, `EMR Serverless job run`, `SNS publish`). */
  readonly resource?: string;
  readonly comment?: string;
  /** Parallel: one scope per branch; Map: the item processor. */
  readonly children: GraphScope[];
}

export interface GraphScope {
  readonly id: string;
  readonly label: string;
  /** The scope's first state (`(start)` for the top level, which begins at its Start marker). */
  readonly startAt: string;
  readonly nodes: GraphNode[];
  readonly edges: GraphEdge[];
}

type Json = Record<string, any>;

export const START = '(start)';
export const END = '(end)';

/** Every state name of a definition, nested ones included, in definition order. */
export function allStateNames(definition: Json): string[] {
  const names: string[] = [];
  const visit = (def: Json) => {
    for (const [name, state] of Object.entries((def.States ?? {}) as Record<string, Json>)) {
      names.push(name);
      for (const child of childDefinitions(state)) visit(child);
    }
  };
  visit(definition);
  return names;
}

function childDefinitions(state: Json): Json[] {
  if (state.Type === 'Parallel') return (state.Branches ?? []) as Json[];
  if (state.Type === 'Map') {
    const processor = (state.ItemProcessor ?? state.Iterator) as Json | undefined;
    return processor ? [processor] : [];
  }
  return [];
}

/**
 * The execution's graph. `ended`: the execution is over, so a state still `running` in its records was stopped
 * by the end of the execution (e.g. the other branch of a failed Parallel): it is drawn `cancelled`.
 */
export function executionGraph(definition: Json, steps: readonly StepRecord[], options: { readonly ended: boolean }): GraphScope {
  const byName = new Map<string, StepRecord[]>();
  for (const step of steps) byName.set(step.name, [...(byName.get(step.name) ?? []), step]);
  const taken = takenTransitions(definition, steps);
  const build = (def: Json, id: string, label: string, top: boolean): GraphScope => {
    const states = Object.entries((def.States ?? {}) as Record<string, Json>);
    const nodes: GraphNode[] = [];
    const edges: GraphEdge[] = [];
    const add = (edge: Omit<GraphEdge, 'taken'>, catchDetail?: string) => {
      const same = edges.find((e) => e.from === edge.from && e.to === edge.to);
      if (same) {
        if (edge.kind === 'catch') {
          same.alsoCatch = true;
          same.detail = [same.detail, `also Catch: ${catchDetail}`].filter(Boolean).join('; ');
        }
        same.taken ||= taken.has(`${edge.from}\u0000${edge.to}`);
        return;
      }
      edges.push({ ...edge, taken: taken.has(`${edge.from}\u0000${edge.to}`) });
    };
    if (top) {
      const entered = byName.has(def.StartAt);
      nodes.push(marker(START, 'Start', steps.length > 0));
      edges.push({ from: START, to: def.StartAt, kind: 'start', taken: entered });
    }
    for (const [name, state] of states) {
      const records = byName.get(name) ?? [];
      const children = childDefinitions(state).map((child, i) =>
        build(child, `${id}/${name}#${i}`, state.Type === 'Map' ? 'item processor' : `branch ${i + 1}`, false),
      );
      nodes.push({
        name,
        type: state.Type,
        status: statusOf(records, options.ended),
        entries: records.length,
        attempts: records.reduce((n, r) => n + r.attempts, 0),
        durationMs: durationOf(records),
        error: records.find((r) => r.error)?.error,
        cause: records.find((r) => r.cause)?.cause,
        resource: state.Type === 'Task' ? describeResource(String(state.Resource ?? '')) : undefined,
        comment: typeof state.Comment === 'string' ? state.Comment : undefined,
        children,
      });
      if (state.Type === 'Choice') {
        ((state.Choices ?? []) as Json[]).forEach((rule, i) => {
          const text = ruleText(rule);
          add({ from: name, to: rule.Next, kind: 'choice', label: shorten(ruleText(rule, true), 34), detail: `rule ${i + 1}: ${text}` });
        });
        if (state.Default) add({ from: name, to: state.Default, kind: 'default', label: 'Default', detail: 'Default' });
      } else if (state.Next) {
        add({ from: name, to: state.Next, kind: 'next' });
      }
      for (const catcher of (state.Catch ?? []) as Json[]) {
        const errors = ((catcher.ErrorEquals ?? []) as string[]).join(', ');
        add({ from: name, to: catcher.Next, kind: 'catch', detail: `Catch: ${errors}` }, errors);
      }
      if (top && (state.End === true || state.Type === 'Succeed' || state.Type === 'Fail')) {
        const done = records.some((r) => r.status === 'succeeded' || (state.Type === 'Fail' && r.status === 'failed'));
        edges.push({ from: name, to: END, kind: 'end', taken: done });
      }
    }
    if (top) nodes.push(marker(END, 'End', false));
    return { id, label, startAt: top ? START : def.StartAt, nodes, edges };
  };
  return build(definition, 'root', '', true);
}

function marker(name: string, type: string, entered: boolean): GraphNode {
  return { name, type, status: entered ? 'succeeded' : 'not-entered', entries: 0, attempts: 0, children: [] };
}

/** One status for all entries of a state: the worst wins (running > failed > caught > succeeded). */
export function statusOf(records: readonly StepRecord[], ended: boolean): NodeStatus {
  if (records.length === 0) return 'not-entered';
  if (records.some((r) => r.status === 'running' || r.status === 'retrying')) return ended ? 'cancelled' : 'running';
  if (records.some((r) => r.status === 'failed')) return 'failed';
  if (records.some((r) => r.status === 'caught')) return 'caught';
  return 'succeeded';
}

function durationOf(records: readonly StepRecord[]): number | undefined {
  const ends = records.filter((r) => r.endedAt !== undefined);
  if (!ends.length) return undefined;
  return Math.max(...ends.map((r) => r.endedAt!)) - Math.min(...records.map((r) => r.startedAt));
}

/**
 * Transitions the execution took (`from\0to`). A step that succeeded went on by its Next (a Choice: by the rule
 * or Default whose target was entered next); a caught step by the Catch whose target was entered next. Steps
 * are in entry order, so "next" is the first later entry of one of the candidate targets (state names are unique
 * in a definition, so targets are in the step's own branch).
 */
export function takenTransitions(definition: Json, steps: readonly StepRecord[]): Set<string> {
  const states = new Map<string, Json>();
  const visit = (def: Json) => {
    for (const [name, state] of Object.entries((def.States ?? {}) as Record<string, Json>)) {
      states.set(name, state);
      for (const child of childDefinitions(state)) visit(child);
    }
  };
  visit(definition);
  const taken = new Set<string>();
  steps.forEach((step, i) => {
    const state = states.get(step.name);
    if (!state) return;
    let targets: string[] = [];
    if (step.status === 'succeeded') {
      targets = state.Type === 'Choice' ? [...((state.Choices ?? []) as Json[]).map((c) => c.Next as string), state.Default].filter(Boolean) : state.Next ? [state.Next] : [];
    } else if (step.status === 'caught') {
      targets = ((state.Catch ?? []) as Json[]).map((c) => c.Next as string);
    }
    if (!targets.length) return;
    const next = steps.slice(i + 1).find((s) => targets.includes(s.name));
    if (next) taken.add(`${step.name}\u0000${next.name}`);
  });
  return taken;
}

const COMPARATORS: Record<string, string> = {
  StringEquals: '==', NumericEquals: '==', BooleanEquals: '==', TimestampEquals: '==',
  NumericLessThan: '<', NumericGreaterThan: '>', NumericLessThanEquals: '<=', NumericGreaterThanEquals: '>=',
  StringLessThan: '<', StringGreaterThan: '>', StringLessThanEquals: '<=', StringGreaterThanEquals: '>=',
  TimestampLessThan: '<', TimestampGreaterThan: '>', TimestampLessThanEquals: '<=', TimestampGreaterThanEquals: '>=',
  StringMatches: 'matches',
};

/**
 * A Choice rule as a short expression: `$.gate.promote == true`, `a || b`, `!(…)`; `brief`: variables by their
 * last field (`promote == true`), for the label on the edge.
 */
export function ruleText(rule: Json, brief = false): string {
  if (Array.isArray(rule.And)) return (rule.And as Json[]).map((r) => ruleText(r, brief)).join(' && ');
  if (Array.isArray(rule.Or)) return (rule.Or as Json[]).map((r) => ruleText(r, brief)).join(' || ');
  if (rule.Not) return `!(${ruleText(rule.Not, brief)})`;
  const full = String(rule.Variable ?? '?');
  const variable = brief ? (full.split('.').at(-1) ?? full) : full;
  for (const [key, value] of Object.entries(rule)) {
    if (key === 'Variable' || key === 'Next') continue;
    const path = key.endsWith('Path');
    const op = COMPARATORS[path ? key.slice(0, -4) : key];
    if (op) return `${variable} ${op} ${path ? value : JSON.stringify(value)}`;
    if (key === 'IsPresent') return `${variable} ${value ? 'is present' : 'is absent'}`;
    if (key === 'IsNull') return `${variable} ${value ? 'is null' : 'is not null'}`;
    if (/^Is(String|Numeric|Boolean|Timestamp)$/.test(key)) return `${variable} ${value ? 'is' : 'is not'} ${key.slice(2).toLowerCase()}`;
  }
  return JSON.stringify(rule);
}

export function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function describeResource(resource: string): string {
  if (resource.includes(':function:')) return `Lambda ${resource.split(':function:')[1]?.split(':')[0] ?? ''}`;
  if (resource.includes('emr-serverless:startJobRun')) return 'EMR Serverless job run';
  if (resource.includes(':sns:publish')) return 'SNS publish';
  if (resource.includes('lambda:invoke')) return 'Lambda invoke';
  return resource.replace(/^arn:aws:states:::/, '');
}
