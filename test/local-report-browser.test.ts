/**
 * The demo report (local/report.ts) as a browser shows it: Debian's chromium (/usr/bin/chromium, installed by
 * scripts/setup.sh) driven by playwright-core renders a report of executions of the synthesized state machines
 * (run in the engine and recorded by the runner's StepTracker, test/support/engine-execution.ts). The page must
 * load nothing from outside, log no error, draw one node per state of each definition with the status the
 * execution gave it, the path taken, and the job-run timeline.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { type DemoRun, writeHtmlReport } from '../local/report';
import { allStateNames } from '../local/report-graph';
import { definitions, synthPlatform } from './support/cdk-platform';
import { runDefinition, stateOf } from './support/engine-execution';

const CHROMIUM = '/usr/bin/chromium';
const defs = definitions(synthPlatform('dev').template);
const MODEL = { rank: 8, maxIter: 10, regParam: 0.1, seed: 42 };

let dir: string;
let reportFile: string;
let browser: Browser;
let page: Page;
let runs: DemoRun[];
const problems: string[] = [];
const outside: string[] = [];


beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: the report's browser test needs Debian's chromium (apt-get install -y chromium; scripts/setup.sh installs it)`);
  }
  const rec = defs['recommender-training'];
  runs = [
    { title: 'recommender-training (train job fails)', execution: await runDefinition('recommender-training', rec, MODEL, { failJob: 'Run train', jobMs: 40 }) },
    {
      title: 'recommender-training (a result cannot be read)',
      execution: await runDefinition('recommender-training', rec, MODEL, { failState: { state: 'Read train result', error: 'JobResultError', cause: 'train: result FAILED' }, jobMs: 10 }),
    },
    { title: 'drift-retrain (drifted batch)', execution: await runDefinition('drift-retrain', defs['drift-retrain'], { incoming: 's3://dev-lake/bronze/netflix/incoming/b.txt', ...MODEL }, { jobMs: 10 }) },
  ];
  runs.forEach((run, i) => Object.assign(run.execution, { executionName: `${run.execution.executionName}-${i}` }));
  dir = mkdtempSync(path.join(tmpdir(), 'report-browser-'));
  reportFile = path.join(dir, 'report.html');
  writeHtmlReport(reportFile, runs, [{ label: 'original', counts: [5, 10, 30, 40, 15] }], { totalSeconds: 12, root: '/tmp/local-s3' });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('request', (r) => {
    if (!r.url().startsWith('file://') && !r.url().startsWith('data:')) outside.push(r.url());
  });
  await page.goto(`file://${reportFile}`, { waitUntil: 'load' });
});

afterAll(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const figure = (i: number) => page.locator('figure.sfn-figure').nth(i);
const classOf = async (i: number, state: string) => (await figure(i).locator(`[data-state="${state}"]`).getAttribute('class')) ?? '';

test('one self-contained file that renders without errors', async () => {
  expect(problems).toEqual([]);
  expect(outside).toEqual([]);
  const size = statSync(reportFile).size;
  expect(size).toBeLessThan(1_000_000);
  expect(await page.locator('script[src], link[rel="stylesheet"], img[src^="http"]').count()).toBe(0);
  expect(await page.locator('figure.sfn-figure').count()).toBe(runs.length);
});

test('each graph has one node per state of its definition, nested states included', async () => {
  for (const [i, run] of runs.entries()) {
    const names = allStateNames(run.execution.definition!);
    const drawn = await figure(i).locator('svg.sfn-graph [data-state]').evaluateAll((els) => els.map((e) => e.getAttribute('data-state')));
    expect(drawn).toHaveLength(names.length);
    expect([...drawn].sort()).toEqual([...names].sort());
    expect(await figure(i).locator('svg.sfn-graph [data-marker]').count()).toBe(2);
    // states inside Parallel branches are drawn inside their Parallel's box
    if (run.execution.stateMachine.endsWith('recommender-training')) {
      const parallel = await figure(i).locator('[data-state="ETL"] > rect').boundingBox();
      const inner = await figure(i).locator('[data-state="Run etl-train"] > rect').boundingBox();
      expect(inner!.x).toBeGreaterThan(parallel!.x);
      expect(inner!.y + inner!.height).toBeLessThan(parallel!.y + parallel!.height);
    }
  }
});

test('rendered boxes of plain states never overlap', async () => {
  for (const i of runs.keys()) {
    const boxes = await figure(i).locator('.sfn-state:not(.sfn-compound) > rect, .sfn-marker > rect').evaluateAll((els) =>
      els.map((e) => {
        const r = e.getBoundingClientRect();
        return { name: e.parentElement!.getAttribute('data-state') ?? e.parentElement!.getAttribute('data-marker'), x: r.x, y: r.y, w: r.width, h: r.height };
      }),
    );
    for (const [j, a] of boxes.entries()) for (const b of boxes.slice(j + 1)) {
      const apart = a.x + a.w <= b.x + 0.5 || b.x + b.w <= a.x + 0.5 || a.y + a.h <= b.y + 0.5 || b.y + b.h <= a.y + 0.5;
      expect([a.name, b.name, apart]).toEqual([a.name, b.name, true]);
    }
  }
});

test('the failed job: its state failed (or caught, as its definition says), nothing after it entered', async () => {
  const rec = runs[0]!.execution.definition!;
  const caught = Boolean(stateOf(rec, 'Run train').Catch?.length);
  expect(await classOf(0, 'Run train')).toContain(caught ? 'st-caught' : 'st-failed');
  expect(await classOf(0, 'Run create-futures')).toContain('st-succeeded');
  expect(await classOf(0, 'ETL')).toContain('st-succeeded');
  for (const state of ['Record train cost', 'Collect Futures and training results', 'Promote?', 'Model promoted']) expect(await classOf(0, state)).toContain('st-not-entered');
  if (!caught) expect(await classOf(0, 'Futures and training')).toContain(stateOf(rec, 'Futures and training').Catch?.length ? 'st-caught' : 'st-failed');
  expect(await figure(0).locator('path.sfn-edge.taken[data-edge="Build train request→Run train"]').count()).toBe(1);
  expect(await figure(0).locator('path.sfn-edge.untaken[data-edge="Run train→Record train cost"]').count()).toBe(1);
  // the job-run timeline: one row per job run, the failed one FAILED
  const rows = await page.locator('.jr-timeline').nth(0).locator('.jr-row').evaluateAll((els) => els.map((e) => [e.getAttribute('data-step'), e.getAttribute('data-job-state')]));
  expect(rows).toHaveLength(runs[0]!.execution.jobRuns!.length);
  expect(rows).toContainEqual(['Run train', 'FAILED']);
  expect(rows).toContainEqual(['Run etl-train', 'SUCCESS']);
  expect(await page.locator('.jr-timeline').nth(0).locator('.jr-queued').count()).toBeGreaterThan(0);
});

test('the caught error: the Catch edge taken (drawn as taken), its path to the Fail state', async () => {
  const rec = runs[1]!.execution.definition!;
  const target = stateOf(rec, 'Read train result').Catch[0].Next as string;
  expect(await classOf(1, 'Read train result')).toContain('st-caught');
  expect(await figure(1).locator(`path.sfn-edge.e-catch.taken[data-edge="Read train result→${target}"]`).count()).toBe(1);
  expect(await figure(1).locator('path.sfn-edge.e-catch.taken').count()).toBeGreaterThanOrEqual(1);
  expect(await classOf(1, 'train failed')).toContain('st-failed');
  expect(await classOf(1, 'Evaluation gate')).toContain('st-not-entered');
});

test('the Choice branches taken carry their rule, the others are drawn not taken', async () => {
  const f = figure(2);
  expect(await f.locator('g.sfn-label.taken[data-edge="Drift detected?→Prepare drift-merge args"]').textContent()).toContain('retrain == true');
  expect(await f.locator('g.sfn-label.untaken[data-edge="Drift detected?→No-drift report"]').textContent()).toBe('Default');
  expect(await f.locator('g.sfn-label.taken[data-edge="New batch?→Build drift-detect request"]').textContent()).toBe('Default');
  expect(await classOf(2, 'No-drift report')).toContain('st-not-entered');
  expect(await classOf(2, 'Model promoted')).toContain('st-succeeded');
  expect(await f.locator('path.sfn-edge.taken[data-edge="Model promoted→(end)"]').count()).toBe(1);
});

test('a click on a state shows its details beside the graph', async () => {
  await figure(0).locator('[data-state="Run train"]').click();
  const text = await figure(0).locator('.sfn-detail').innerText();
  expect(text).toContain('Run train');
  expect(text).toContain('EMR Serverless job run');
  expect(text).toContain('error: States.TaskFailed');
  expect(await figure(0).locator('.sfn-state.selected').count()).toBe(1);
  expect(problems).toEqual([]);
});
