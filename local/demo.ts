import { rmSync } from 'node:fs';
import * as path from 'node:path';
import { ProgressDisplay, formatSeconds } from './progress';
import { DemoRun, finalState, ratingHistogram, summaryTable, writeHtmlReport } from './report';
import { LocalRuntime, LocalRuntimeOptions } from './runtime';
import { generateTaxiMonths, seedSampleData, serveDirectory } from './sample-data';
import { parseDatabaseUrl, seedDatabase } from './database';
import { terminal } from './lambda-host';
import { AccessSummary, summarizeAccess } from './access-report';

/**
 * `npm run demo`: the four deployed pipelines, end to end on this machine, on the bundled sample.
 *
 * 1. recommender-training (ETL ‖ → futures ‖ train → evaluate → gate → promote)
 * 2. drift-retrain on a clean batch (the no-drift branch) and on a drifted batch (the retrain branch)
 * 3. news-enrichment in lake mode on the sample articles, then again: "nothing to process"
 * 4. taxi-medallion on synthetic months, downloaded by the ingest Lambda from a local HTTP server
 *
 * The recommender chain and the news/taxi chain are independent and run side by side (like two schedules firing
 * at once); each run is checked against what it must show, and any mismatch fails the demo (exit 1).
 */
export interface DemoOptions {
  readonly projectRoot?: string;
  readonly root?: string;
  /** Redraw the task list in place (default: when stdout is a terminal). */
  readonly interactive?: boolean;
  /** Run the two chains one after the other instead of side by side. */
  readonly sequential?: boolean;
  /**
   * PostgreSQL URL for news-enrichment's database mode (default: `DATABASE_URL` from the environment; without
   * one, news-enrichment runs in lake mode on the sample articles).
   */
  readonly databaseUrl?: string;
  /** Extra Spark settings (e.g. `{ master: 'local[4]' }`). */
  readonly spark?: LocalRuntimeOptions['spark'];
}

export interface DemoResult {
  readonly ok: boolean;
  readonly runs: DemoRun[];
  readonly problems: string[];
  readonly seconds: number;
  readonly reportFile: string;
  /** What the IAM enforcement saw (local/access-report.ts). */
  readonly access: AccessSummary;
}

const MODEL = { rank: 8, maxIter: 10, regParam: 0.1, seed: 42 };

export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const started = Date.now();
  const projectRoot = path.resolve(options.projectRoot ?? process.cwd());
  const root = path.resolve(options.root ?? path.join(projectRoot, '.local'));
  const display = new ProgressDisplay({ root, interactive: options.interactive });
  // A demo starts from an empty platform: no data, no models, no history (the synthesized app, the built
  // artifacts and Spark's class-data archive are kept).
  for (const dir of ['s3', 'logs', 'executions', 'emr/runs', 'spark-events', 'alerts.jsonl', 'taxi-source']) rmSync(path.join(root, dir), { recursive: true, force: true });

  display.note('⚙  Synthesizing the CDK app and deploying it locally…');
  const t0 = Date.now();
  const databaseUrl = options.databaseUrl ?? process.env.DATABASE_URL;
  const runtime = await LocalRuntime.create({
    projectRoot,
    root,
    onEvent: display.onEvent,
    ...(databaseUrl ? { databaseUrl } : {}),
    ...(options.spark ? { spark: options.spark } : {}),
  });
  const d = runtime.deployment;
  display.note(
    `   ${d.stateMachines.length} state machines, ${d.functions.length} functions, ${d.buckets.length} buckets (${d.buckets.map((b) => b.name).join(', ')}), ` +
      `EMR Serverless application ${d.applications[0]?.applicationId ?? '(none)'} → local Spark; artifacts: ${runtime.artifacts?.source ?? 'given'} build (${formatSeconds((Date.now() - t0) / 1000)})`,
  );
  const sample = await seedSampleData(runtime);
  if (databaseUrl) {
    const connection = parseDatabaseUrl(databaseUrl);
    const loaded = await seedDatabase(projectRoot, connection, path.join(projectRoot, 'data', 'sample', 'news', 'articles.jsonl'));
    display.note(`   news-enrichment in database mode: ${loaded} sample articles (re)loaded into ${connection.dbname}.articles at ${connection.host}:${connection.port}`);
  } else {
    display.note('   news-enrichment in lake mode (set DATABASE_URL=postgresql://… for database mode)');
  }
  const newsInput = databaseUrl ? {} : { source: sample.newsSource };
  const months = ['2025-01', '2025-02'];
  const taxiSource = path.join(root, 'taxi-source');
  generateTaxiMonths(runtime, taxiSource, months, 3000);
  const server = await serveDirectory(taxiSource, runtime.aws.certificate);
  display.note(`   sample loaded into s3://${runtime.bucketFromEnv('LAKE_BUCKET')}/bronze/; taxi months served at ${server.url}`);

  const runs: DemoRun[] = [];
  const run = async (title: string, pipeline: string, input: Record<string, unknown>, expect: DemoRun['expect']) => {
    const execution = await runtime.run(pipeline, input);
    const entry: DemoRun = { title, execution, expect };
    runs.push(entry);
    return entry;
  };
  const recommenderChain = async () => {
    await run('recommender-training', 'recommender-training', { ...MODEL }, { status: 'SUCCEEDED', finalState: 'Model promoted' });
    await run('drift-retrain (clean batch)', 'drift-retrain', { incoming: sample.cleanBatch, ...MODEL }, { status: 'SUCCEEDED', finalState: 'No drift' });
    await run('drift-retrain (drifted batch)', 'drift-retrain', { incoming: sample.driftedBatch, ...MODEL }, { status: 'SUCCEEDED' });
  };
  const dataChain = async () => {
    await run('news-enrichment', 'news-enrichment', newsInput, { status: 'SUCCEEDED', finalState: 'Articles enriched' });
    await run('news-enrichment (again)', 'news-enrichment', newsInput, { status: 'SUCCEEDED', finalState: 'Nothing to do' });
    await run('taxi-medallion', 'taxi-medallion', { months, sourceUrlTemplate: `${server.url}/year={year}/month={mm}/yellow_tripdata_{month}.parquet` }, {
      status: 'SUCCEEDED',
      finalState: 'Features written',
    });
  };
  try {
    if (options.sequential) {
      await recommenderChain();
      await dataChain();
    } else {
      await Promise.all([recommenderChain(), dataChain()]);
    }
  } finally {
    display.stop();
    await server.close();
    await runtime.close();
  }
  const access = runtime.accessReport();

  const order = ['recommender-training', 'drift-retrain (clean batch)', 'drift-retrain (drifted batch)', 'news-enrichment', 'news-enrichment (again)', 'taxi-medallion'];
  runs.sort((a, b) => order.indexOf(a.title) - order.indexOf(b.title));
  const problems: string[] = [];
  for (const r of runs) {
    if (r.expect?.status && r.execution.status !== r.expect.status) problems.push(`${r.title}: ended ${r.execution.status} (${r.execution.error ?? ''}), expected ${r.expect.status}`);
    if (r.expect?.finalState && finalState(r.execution) !== r.expect.finalState) problems.push(`${r.title}: ended in state "${finalState(r.execution)}", expected "${r.expect.finalState}"`);
  }
  const drifted = runs.find((r) => r.title === 'drift-retrain (drifted batch)');
  if (drifted && !drifted.execution.steps.some((s) => s.name === 'Run drift-merge')) problems.push('drift-retrain (drifted batch): the retrain branch did not run');

  const seconds = (Date.now() - started) / 1000;
  const histograms = [
    ratingHistogram(sample.files.train, 'original (train.txt)'),
    ratingHistogram(sample.files.clean, 'new batch: clean'),
    ratingHistogram(sample.files.drifted, 'new batch: drifted'),
  ];
  writeHtmlReport(runtime.layout.reportFile, runs, histograms, { totalSeconds: seconds, root: runtime.layout.s3Root, access });
  terminal.out(`\n${summaryTable(runs)}\n\n`);
  const summary = summarizeAccess(access);
  terminal.out(`Access (IAM enforced): ${summary.checks} checks by ${summary.principals} principals, ${summary.denied} denied; ${summary.unexercised} granted statements never exercised (report: access section; JSON: ${path.relative(projectRoot, path.join(runtime.layout.root, 'access-report.json'))})\n`);
  terminal.out(`Local S3: ${path.relative(projectRoot, runtime.layout.s3Root)}/<bucket>/<key>   logs: ${path.relative(projectRoot, runtime.layout.logsRoot)}/   alerts: ${path.relative(projectRoot, runtime.layout.alertsFile)}\n`);
  terminal.out(`Report: ${path.relative(projectRoot, runtime.layout.reportFile)}   Total: ${formatSeconds(seconds)}\n`);
  if (problems.length) terminal.out(`\nDemo FAILED:\n${problems.map((p) => `  ✗ ${p}`).join('\n')}\n`);
  return { ok: problems.length === 0, runs, problems, seconds, reportFile: runtime.layout.reportFile, access: summary };
}
