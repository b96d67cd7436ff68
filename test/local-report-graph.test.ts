/**
 * The report's execution graph (local/report-graph.ts, report-layout.ts, report-timeline.ts) on the synthesized
 * state machines: every state of each definition is a node (Parallel branches and the Map's item processor
 * nested), each transition an edge, and for executions of the real definitions in the engine (recorded by the
 * runner's StepTracker, test/support/engine-execution.ts) the states' statuses and the path taken.
 */
import { allStateNames, END, executionGraph, type GraphNode, type GraphScope, ruleText, START } from '../local/report-graph';
import { type LaidScope, layoutScope } from '../local/report-layout';
import { timelineRows } from '../local/report-timeline';
import { type ExecutionRecord, jobRunSpans } from '../local/runtime';
import { definitions, synthPlatform } from './support/cdk-platform';
import { runDefinition, stateOf } from './support/engine-execution';

const defs = definitions(synthPlatform('dev').template);
const MODEL = { rank: 8, maxIter: 10, regParam: 0.1, seed: 42 };
const INCOMING = { incoming: 's3://dev-lake/bronze/netflix/incoming/batch-1.txt', ...MODEL };

/** Every state node of a graph, nested ones included: name → node. */
function nodesOf(scope: GraphScope, out = new Map<string, GraphNode>(), count = { n: 0 }): Map<string, GraphNode> {
  for (const node of scope.nodes) {
    if (node.name === START || node.name === END) continue;
    count.n += 1;
    out.set(node.name, node);
    for (const child of node.children) nodesOf(child, out, count);
  }
  return out;
}

function edgesOf(scope: GraphScope): GraphScope['edges'] {
  return [...scope.edges, ...scope.nodes.flatMap((n) => n.children.flatMap(edgesOf))];
}


const taken = (scope: GraphScope) => edgesOf(scope).filter((e) => e.taken).map((e) => `${e.from} → ${e.to}`);
const status = (scope: GraphScope) => Object.fromEntries([...nodesOf(scope)].map(([name, n]) => [name, n.status]));

/** Boxes of one scope must not overlap; every box and edge point lies inside the scope; recursively. */
function expectSaneLayout(laid: LaidScope): void {
  for (const [i, a] of laid.nodes.entries()) {
    expect(a.x).toBeGreaterThanOrEqual(0);
    expect(a.y).toBeGreaterThanOrEqual(0);
    expect(a.x + a.w).toBeLessThanOrEqual(laid.w + 0.01);
    expect(a.y + a.h).toBeLessThanOrEqual(laid.h + 0.01);
    for (const b of laid.nodes.slice(i + 1)) {
      const apart = a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y;
      if (!apart) throw new Error(`${a.node.name} overlaps ${b.node.name}`);
    }
    for (const child of a.children) {
      expect(child.dx + child.scope.w).toBeLessThanOrEqual(a.w + 0.01);
      expect(child.dy + child.scope.h).toBeLessThanOrEqual(a.h + 0.01);
      expectSaneLayout(child.scope);
    }
  }
  for (const e of laid.edges) for (const [x, y] of e.points) {
    expect(x).toBeGreaterThanOrEqual(0);
    expect(x).toBeLessThanOrEqual(laid.w);
    expect(y).toBeGreaterThanOrEqual(0);
    expect(y).toBeLessThanOrEqual(laid.h);
  }
}

describe.each(Object.keys(defs))('%s: the graph of the synthesized definition', (pipeline) => {
  const definition = defs[pipeline as keyof typeof defs];
  const graph = executionGraph(definition, [], { ended: true });

  test('every state is one node, nested in its Parallel/Map; nothing entered', () => {
    const names = allStateNames(definition);
    const count = { n: 0 };
    const nodes = nodesOf(graph, new Map(), count);
    expect(count.n).toBe(names.length);
    expect([...nodes.keys()].sort()).toEqual([...names].sort());
    expect(new Set(Object.values(status(graph)))).toEqual(new Set(['not-entered']));
    for (const [name, state] of Object.entries(definition.States as Record<string, any>)) {
      const node = nodes.get(name)!;
      expect(node.children).toHaveLength(state.Type === 'Parallel' ? state.Branches.length : state.Type === 'Map' ? 1 : 0);
    }
    expect(taken(graph)).toEqual([]);
  });

  test('one edge per distinct transition: Next, Choice rules, Default, Catch (+ Start and End)', () => {
    const expected = new Set<string>();
    const visit = (def: any) => {
      for (const [name, s] of Object.entries(def.States as Record<string, any>)) {
        for (const to of [s.Next, s.Default, ...(s.Choices ?? []).map((c: any) => c.Next), ...(s.Catch ?? []).map((c: any) => c.Next)]) if (to) expected.add(`${name} → ${to}`);
        for (const b of s.Branches ?? []) visit(b);
        if (s.ItemProcessor ?? s.Iterator) visit(s.ItemProcessor ?? s.Iterator);
      }
    };
    visit(definition);
    const edges = edgesOf(graph).filter((e) => e.kind !== 'start' && e.kind !== 'end').map((e) => `${e.from} → ${e.to}`);
    expect(edges.sort()).toEqual([...expected].sort());
    expect(edgesOf(graph).filter((e) => e.kind === 'start').map((e) => e.to)).toEqual([definition.StartAt]);
  });

  test('the layered layout places every node inside its scope without overlaps', () => {
    expectSaneLayout(layoutScope(graph));
  });
});

describe('executions of the real definitions (engine + StepTracker)', () => {
  const recommender = defs['recommender-training'];
  let trainFails: ExecutionRecord;
  beforeAll(async () => {
    trainFails = await runDefinition('recommender-training', recommender, MODEL, { failJob: 'Run train', jobMs: 20 });
  });

  test('recommender-training, the train job fails: the state and its Parallel end as the definition says, nothing after runs', () => {
    expect(trainFails.status).toBe('FAILED');
    const graph = executionGraph(trainFails.definition!, trainFails.steps, { ended: true });
    const runTrain = stateOf(recommender, 'Run train');
    const parallel = stateOf(recommender, 'Futures and training');
    const caught = Boolean(runTrain.Catch?.length);
    expect(status(graph)).toMatchObject({
      'Validate input': 'succeeded',
      ETL: 'succeeded',
      'Run etl-train': 'succeeded',
      'Run etl-test': 'succeeded',
      'Run create-futures': 'succeeded',
      'Run train': caught ? 'caught' : 'failed',
      'Record train cost': 'not-entered',
      'Collect Futures and training results': 'not-entered',
      'Promote?': 'not-entered',
      'Model promoted': 'not-entered',
      ...(caught ? {} : { 'Futures and training': parallel.Catch?.length ? 'caught' : 'failed' }),
    });
    expect(taken(graph)).toEqual(expect.arrayContaining([
      `${START} → Validate input`,
      'Validate input → ETL',
      'Build etl-train request → Run etl-train',
      'Collect ETL costs → Futures and training',
      'Build train request → Run train',
      ...(caught ? [`Run train → ${runTrain.Catch[0].Next}`] : []),
    ]));
    expect(taken(graph)).not.toContain('Run train → Record train cost');
    expect(taken(graph)).not.toContain('Futures and training → Collect Futures and training results');
    const node = nodesOf(graph).get('Run train')!;
    expect(node).toMatchObject({ error: 'States.TaskFailed', entries: 1, resource: 'EMR Serverless job run' });
    expect(node.cause).toContain('"State":"FAILED"');
  });

  test('its job runs: one row per run, queued while the other branch held the only slot, the failed one FAILED', () => {
    const rows = timelineRows(trainFails);
    expect(rows.map((r) => [r.label, r.run?.state]).sort()).toEqual([
      ['Run create-futures', 'SUCCESS'],
      ['Run etl-test', 'SUCCESS'],
      ['Run etl-train', 'SUCCESS'],
      ['Run train', 'FAILED'],
    ]);
    expect(rows.filter((r) => r.run!.queuedMs >= 10)).toHaveLength(2); // one of each Parallel waited
    for (const row of rows) expect(row.task?.name).toBe(row.label);
  });

  test('a Lambda step of a branch fails: caught, its Catch path taken to the Fail state, the Parallel as defined', async () => {
    const record = await runDefinition('recommender-training', recommender, MODEL, {
      failState: { state: 'Read train result', error: 'JobResultError', cause: 'train: result status FAILED' },
      jobMs: 5,
    });
    const graph = executionGraph(record.definition!, record.steps, { ended: true });
    const read = stateOf(recommender, 'Read train result');
    // the Catch path: its target, then Next until the branch's Fail state
    const path = [read.Catch[0].Next as string];
    while (stateOf(recommender, path.at(-1)!).Next) path.push(stateOf(recommender, path.at(-1)!).Next);
    expect(stateOf(recommender, path.at(-1)!).Type).toBe('Fail');
    const parallel = stateOf(recommender, 'Futures and training');
    expect(status(graph)).toMatchObject({
      'Run train': 'succeeded',
      'Record train cost': 'succeeded',
      'Read train result': 'caught',
      ...Object.fromEntries(path.map((name, i) => [name, i === path.length - 1 ? 'failed' : 'succeeded'])),
      'Futures and training': parallel.Catch?.length ? 'caught' : 'failed',
      'Evaluation gate': 'not-entered',
    });
    expect(taken(graph)).toEqual(expect.arrayContaining([`Read train result → ${path[0]}`, ...path.slice(1).map((name, i) => `${path[i]} → ${name}`)]));
    expect(nodesOf(graph).get('Read train result')).toMatchObject({ error: 'JobResultError', cause: 'train: result status FAILED' });
    expect(record.status).toBe('FAILED');
  });

  test('drift-retrain, NO_NEW_BATCH: the Choice rule taken, Default not; the rest not entered', async () => {
    const record = await runDefinition('drift-retrain', defs['drift-retrain'], INCOMING, { result: { batchStatus: 'NO_NEW_BATCH' }, jobMs: 5 });
    expect(record.status).toBe('SUCCEEDED');
    const graph = executionGraph(record.definition!, record.steps, { ended: true });
    const choice = edgesOf(graph).filter((e) => e.from === 'New batch?');
    expect(choice.map((e) => [e.kind, e.to, e.label, e.taken])).toEqual([
      ['choice', 'No-new-batch report', 'batchStatus == "NO_NEW_BATCH"', true],
      ['default', 'Build drift-detect request', 'Default', false],
    ]);
    expect(status(graph)).toMatchObject({ 'No new batch': 'succeeded', 'Build drift-detect request': 'not-entered', 'Drift detected?': 'not-entered', 'Notify failure': 'not-entered' });
    expect(taken(graph)).toContain(`No new batch → ${END}`);
  });

  test('drift-retrain, drifted batch: Or-rule of "Drift detected?" taken, the retrain branch entered', async () => {
    const record = await runDefinition('drift-retrain', defs['drift-retrain'], INCOMING, { jobMs: 5 });
    const graph = executionGraph(record.definition!, record.steps, { ended: true });
    const rule = edgesOf(graph).find((e) => e.from === 'Drift detected?' && e.kind === 'choice')!;
    expect(rule).toMatchObject({ to: 'Prepare drift-merge args', taken: true, detail: 'rule 1: $.results.driftDetect.decision.retrain == true || $.plan.forceRetrain == true' });
    expect(status(graph)).toMatchObject({ 'Run drift-merge': 'succeeded', 'No-drift report': 'not-entered', 'Model promoted': 'succeeded' });
  });

  test('taxi-medallion: the Map state and its item processor, one entry per month', async () => {
    const record = await runDefinition('taxi-medallion', defs['taxi-medallion'], { months: ['2025-01', '2025-02', '2025-03'], sourceUrlTemplate: 'https://example.test/{month}.parquet' }, { jobMs: 5 });
    expect(record.status).toBe('SUCCEEDED');
    const graph = executionGraph(record.definition!, record.steps, { ended: true });
    const map = nodesOf(graph).get('Ingest taxi months')!;
    expect(map.children.map((c) => c.nodes.map((n) => n.name))).toEqual([['Ingest taxi month', 'Ingest month failed']]);
    expect(nodesOf(graph).get('Ingest taxi month')).toMatchObject({ status: 'succeeded', entries: 3 });
    expect(taken(graph)).toEqual(expect.arrayContaining(['Ingest? → Ingest taxi months', 'Ingest taxi months → Build taxi-preprocess request']));
    expect(taken(graph)).not.toContain('Ingest? → Build taxi-preprocess request');
  });

  test('a failed Parallel branch: the other branch is drawn stopped, its job run CANCELLED', async () => {
    const record = await runDefinition('recommender-training', recommender, MODEL, {
      failJob: 'Run etl-test',
      maxConcurrentRuns: 2,
      jobMs: { 'Run etl-train': 500, 'Run etl-test': 20 },
    });
    const graph = executionGraph(record.definition!, record.steps, { ended: true });
    expect(status(graph)).toMatchObject({ 'Run etl-test': stateOf(recommender, 'Run etl-test').Catch ? 'caught' : 'failed', 'Run etl-train': 'cancelled', 'Record etl-train cost': 'not-entered' });
    expect(executionGraph(record.definition!, record.steps, { ended: false }).nodes.find((n) => n.name === 'ETL')!.children[0]!.nodes.find((n) => n.name === 'Run etl-train')!.status).toBe('running');
    expect(timelineRows(record).map((r) => [r.label, r.run?.state]).sort()).toEqual([['Run etl-test', 'FAILED'], ['Run etl-train', 'CANCELLED']]);
  });
});

test('Choice rules read as expressions', () => {
  expect(ruleText({ Not: { And: [{ Variable: '$.a', NumericGreaterThanEquals: 2 }, { Variable: '$.b', IsPresent: true }] } })).toBe('!($.a >= 2 && $.b is present)');
  expect(ruleText({ Variable: '$.x', StringEqualsPath: '$.y' }, true)).toBe('x == $.y');
});

test("the runtime's job runs of an execution: those whose driver log is one of its state logs, by submission", () => {
  const logs = new Map([['Run etl', '/l/x/04-run-etl.log'], ['Run train', '/l/x/05-run-train.log']]);
  const run = (id: string, logFile: string, created: number, started?: number) =>
    ({ jobRunId: id, name: `n-${id}`, logFile, state: started ? 'SUCCESS' : 'CANCELLED', stateDetails: started ? '' : 'queue timeout', createdAt: new Date(created), ...(started ? { startedAt: new Date(started) } : {}), endedAt: new Date(created + 5000), queuedMilliseconds: started ? started - created : 5000 }) as never;
  expect(jobRunSpans([run('b', '/l/x/05-run-train.log', 2000, 2500), run('other', '/l/y/04-run-etl.log', 0, 1), run('a', '/l/x/04-run-etl.log', 1000)], logs)).toEqual([
    { step: 'Run etl', jobRunId: 'a', name: 'n-a', state: 'CANCELLED', stateDetails: 'queue timeout', submittedAt: 1000, endedAt: 6000, queuedMs: 5000 },
    { step: 'Run train', jobRunId: 'b', name: 'n-b', state: 'SUCCESS', submittedAt: 2000, startedAt: 2500, endedAt: 7000, queuedMs: 500 },
  ]);
});
