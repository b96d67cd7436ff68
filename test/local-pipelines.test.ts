/**
 * The four synthesized state machines executed end to end by the local runner on tiny data: the ASL from the
 * CDK app, the Lambda handlers in-process, the PySpark jobs on local Spark. Slow (≈ 15 short Spark jobs), so the
 * scenarios share one runtime and run in order: recommender-training first (it creates the baseline data and
 * the promoted model the drift runs compare against).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { failureMessage } from '../local/index';
import { ExecutionRecord, LocalRuntime } from '../local/runtime';
import { fireSchedule } from '../local/schedules';
import { generateTaxiMonths, serveDirectory } from '../local/sample-data';

const projectRoot = path.resolve(__dirname, '..');
const root = path.join(projectRoot, '.local', 'test-pipelines');
const python = path.join(projectRoot, '.venv', 'bin', 'python');
const MODEL = { rank: 4, maxIter: 5, seed: 7 };
// A cold first run synthesizes the app, builds the job artifacts and Spark's class-data archive.
// a guard against a hung execution, not a speed goal: each train step runs the default search (about 8 ALS fits),
// 4-6 minutes on a loaded 2-core machine
jest.setTimeout(900_000);

let runtime: LocalRuntime;
let lake: string;
let models: string;

const stepNames = (execution: { steps: Array<{ name: string }> }) => execution.steps.map((s) => s.name);
const lastState = (execution: { steps: Array<{ name: string }> }) => execution.steps.at(-1)?.name;
const readJson = (bucket: string, key: string) => JSON.parse(readFileSync(runtime.layout.objectPath(bucket, key), 'utf8'));
const alerts = () =>
  existsSync(runtime.layout.alertsFile)
    ? readFileSync(runtime.layout.alertsFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
    : [];

beforeAll(async () => {
  rmSync(root, { recursive: true, force: true });
  runtime = await LocalRuntime.create({ projectRoot, root });
  lake = runtime.bucketFromEnv('LAKE_BUCKET');
  models = runtime.bucketFromEnv('MODELS_BUCKET');
  // Tiny Netflix-format data from the planted-model generator: bronze raw files and two stream batches.
  const generated = path.join(root, 'generated');
  execFileSync(python, ['-m', 'jobs.generate', '--output', generated, '--movies', '40', '--customers', '150', '--ratings', '3000',
    '--seed', '11', '--shift', '1.5', '--result-uri', path.join(root, 'generate.json')], { cwd: projectRoot, stdio: 'pipe' });
  const put = (file: string, key: string) => {
    const target = runtime.layout.objectPath(lake, key);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, readFileSync(file));
  };
  for (const name of ['train.txt', 'test.txt', 'future.txt']) put(path.join(generated, name), `bronze/netflix/raw/${name}`);
  put(path.join(generated, 'stream', 'batch-clean.csv'), 'bronze/netflix/stream/incoming/clean/batch.csv');
  put(path.join(generated, 'stream', 'batch-drifted.csv'), 'bronze/netflix/stream/incoming/drifted/batch.csv');
  const badHeader = path.join(root, 'bad-header.csv');
  writeFileSync(badHeader, 'CUST_ID,DATE,MOVIE_ID,RATING\n1,2005-01-01,1,5\n');
  put(badHeader, 'bronze/netflix/stream/incoming/bad-header/batch.csv');
  // 12 sample articles as the lake-mode news source (a Delta table, version 0, written with delta-rs).
  const articles = path.join(root, 'articles.jsonl');
  writeFileSync(articles, readFileSync(path.join(projectRoot, 'data', 'sample', 'news', 'articles.jsonl'), 'utf8').split('\n').slice(0, 12).join('\n'));
  execFileSync(python, [path.join(projectRoot, 'local', 'seed_news.py'), '--input', articles, '--root', runtime.layout.objectPath(lake, 'bronze/news/articles'),
    '--uri', `s3://${lake}/bronze/news/articles`], { stdio: 'pipe' });
});

afterAll(() => runtime?.close());

describe('execution input', () => {
  it('rejects a bad execution input in the first state with a message naming the field, and alerts', async () => {
    const execution = await runtime.run('recommender-training', { rank: 'eight', k: 0 }, { executionName: 'bad-input' });
    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('ValidationError');
    const message = failureMessage(execution)!;
    expect(message).toContain('input.rank');
    expect(message).toContain('input.k');
    expect(stepNames(execution)).toEqual(['Validate input', 'Notify failure', 'Pipeline failed']);
    expect(alerts().at(-1)).toMatchObject({ subject: '[recommender-training] execution bad-input failed' });
  });
});

describe('recommender-training and drift-retrain', () => {
  it('trains, evaluates and promotes the first model', async () => {
    const execution = await runtime.run('recommender-training', MODEL, { executionName: 'train-1' });
    expect(failureMessage(execution)).toBeUndefined();
    expect(execution.status).toBe('SUCCEEDED');
    expect(lastState(execution)).toBe('Model promoted');
    const output = execution.output as any;
    expect(output.results.etl.etlTrain.counts.ratings).toBe(2400);
    expect(output.results.etl.etlTest.counts.ratings).toBe(600);
    expect(output.results.evaluate.metrics.rmse).toBeGreaterThan(0.2);
    expect(output.results.evaluate.metrics.rmse).toBeLessThan(2);
    const pointer = readJson(models, 'recommender/current.json');
    expect(pointer.modelUri).toBe(output.results.model.train.outputs.model);
    expect(pointer.promotedBy.executionName).toBe('train-1');
    // the model the pointer names exists in the local models bucket
    expect(existsSync(runtime.layout.uriToPath(pointer.modelUri))).toBe(true);
    // promoted on the objective (ndcgAtK) against most-popular-unseen, the numbers named
    const metrics = output.results.evaluate.metrics;
    expect(metrics.lift.ndcgAtKVsPopularity).toBeGreaterThanOrEqual(1.1);
    expect(output.gate).toMatchObject({ promote: true, objective: 'ndcgAtK', minPopularityLift: 1.1 });
    expect(output.gate.reason).toContain(`1.1 × popularity ${Number(output.gate.popularity.toPrecision(6))}`);
    // then the promoted model's top-K unseen items per user, as a committed dataset version
    const recs = output.results.recommend;
    expect(recs.outputs.model).toBe(pointer.modelUri);
    expect(recs.counts.users).toBeGreaterThan(0);
    expect(recs.counts.rows).toBeLessThanOrEqual(recs.counts.users * 10);
    expect(existsSync(runtime.layout.objectPath(lake, 'gold/netflix/recommendations/_delta_log/00000000000000000000.json'))).toBe(true); // a Delta table
    expect(recs.outputs.dataset).toMatch(new RegExp(`^s3://${lake}/gold/netflix/recommendations@v\\d+$`));
  });

  it('takes the no-drift branch for a batch from the same distribution', async () => {
    const execution = await runtime.run('drift-retrain', { incoming: `s3://${lake}/bronze/netflix/stream/incoming/clean/`, ...MODEL }, { executionName: 'drift-clean' });
    expect(execution.status).toBe('SUCCEEDED');
    expect(lastState(execution)).toBe('No drift');
    expect(stepNames(execution)).not.toContain('Run drift-merge');
    const output = execution.output as any;
    expect(output.decision.retrain).toBe(false);
  });

  it('takes the retrain branch for a drifted batch: merge → train → evaluate → gate', async () => {
    const before = readJson(models, 'recommender/current.json');
    const execution = await runtime.run('drift-retrain', { incoming: `s3://${lake}/bronze/netflix/stream/incoming/drifted/`, ...MODEL }, { executionName: 'drift-drifted' });
    expect(failureMessage(execution)).toBeUndefined();
    expect(execution.status).toBe('SUCCEEDED');
    const names = stepNames(execution);
    for (const state of ['Run drift-process', 'Run drift-detect', 'Run drift-merge', 'Run train', 'Run evaluate', 'Evaluation gate']) expect(names).toContain(state);
    const output = execution.output as any;
    expect(output.results.driftDetect.decision.retrain).toBe(true);
    expect(output.results.driftDetect.decision.score).toBeGreaterThan(1);
    expect(output.results.driftMerge.counts.trainWritten).toBeGreaterThan(2400);
    expect(output.results.driftProcess.outputs.manifest).toMatch(new RegExp(`^s3://${lake}/silver/netflix/stream/staging/manifests/.+\\.json$`));
    const after = readJson(models, 'recommender/current.json');
    const batch = runtime.layout.objectPath(lake, 'bronze/netflix/stream/incoming/drifted/batch.csv');
    if (lastState(execution) === 'Model promoted') {
      expect(after.modelUri).toBe(output.results.train.outputs.model);
      // consumed only after the promotion
      expect(names.indexOf('Run drift-consume')).toBeGreaterThan(names.indexOf('Promote model'));
      expect(output.results.driftConsume.counts.deletedBatches).toBe(1);
      expect(existsSync(batch)).toBe(false);
    } else {
      expect(lastState(execution)).toBe('Model not promoted');
      expect(after).toEqual(before);
      expect(names).not.toContain('Run drift-consume');
      expect(existsSync(batch)).toBe(true);
    }
  });

  it('ends quietly with NO_NEW_BATCH when incoming/ holds no batch (R10): SUCCEEDED, no detect, no alert', async () => {
    const alertsBefore = alerts().length;
    const execution = await runtime.run('drift-retrain', { incoming: `s3://${lake}/bronze/netflix/stream/incoming/no-such-batch/` }, { executionName: 'drift-empty' });
    expect(failureMessage(execution)).toBeUndefined();
    expect(execution.status).toBe('SUCCEEDED');
    expect(lastState(execution)).toBe('No new batch');
    expect(stepNames(execution)).not.toContain('Run drift-detect');
    expect((execution.output as any).status).toBe('NO_NEW_BATCH');
    expect(alerts()).toHaveLength(alertsBefore);
  });

  it('a failing job fails the execution in its Run state (redrivable there), is retried once by its retry policy, and the alert names the cause', async () => {
    const execution = await runtime.run('drift-retrain', { incoming: `s3://${lake}/bronze/netflix/stream/incoming/bad-header/` }, { executionName: 'drift-broken' });
    expect(execution.status).toBe('FAILED');
    expect(execution.error).toBe('States.TaskFailed');
    const cause = JSON.parse(execution.cause!);
    expect(cause.State).toBe('FAILED');
    expect(cause.StateDetails).toMatch(/ExitCode: [12]\./);
    // retryPolicy.maxAttempts 2 (drift is idempotent): EMR Serverless reran it once, from the start
    expect(cause.Attempt).toBe(2);
    expect(runtime.emr.listJobRunAttempts(cause.ApplicationId, cause.JobRunId)!.map((a) => [a.attempt, a.state])).toEqual([[1, 'FAILED'], [2, 'FAILED']]);
    // no Catch: the execution failed in the job's own state, where a redrive resumes
    expect(stepNames(execution)).toEqual(['Validate input', 'Build drift-process request', 'Run drift-process']);
    expect(execution.steps.find((s) => s.name === 'Run drift-process')!.status).toBe('failed');
    // the job-run FAILED rule → notify-job-failure (invoked by EventBridge under the function's resource policy)
    const alert = alerts().at(-1);
    expect(alert.subject).toBe('[emr-ml dev] job drift-process FAILED');
    expect(alert.message).toContain(`EMR Serverless job run ${cause.JobRunId}`);
    expect(alert.message).toContain('FAILED on attempt 2.');
    expect(alert.message).toMatch(/Error: Job failed.*ExitCode: [12]\./);
    expect(alert.message).toMatch(/Last lines of the driver's stderr \(s3:\/\/[^)]+\/attempts\/2\/SPARK_DRIVER\/stderr\.gz\):/);
    expect(alert.message).toMatch(/header/i);
    expect(alert.message).toContain(`Whole log: npx emrpipe logs ${cause.JobRunId} --stderr --stage dev`);
  });
});

describe('news-enrichment (lake mode)', () => {
  it('short-circuits when the source has no committed version', async () => {
    const execution = await runtime.run('news-enrichment', { source: `s3://${lake}/bronze/news/empty/` }, { executionName: 'news-empty' });
    expect(execution.status).toBe('SUCCEEDED');
    expect(stepNames(execution)).toEqual(['Validate input', 'Check articles', 'Any pending articles?', 'Nothing to do']);
  });

  it('enriches the pending articles, then has nothing to process', async () => {
    const first = await runtime.run('news-enrichment', {}, { executionName: 'news-1' });
    expect(failureMessage(first)).toBeUndefined();
    expect(lastState(first)).toBe('Articles enriched');
    // check-articles read the seeded Delta table's log: version 0, its add stats counting the 12 rows
    expect((first.output as any).check).toMatchObject({ pending: 12, mode: 'lake', sourceVersion: 0, reason: 'source never processed' });
    expect((first.output as any).results.mlProcessing.counts.processed).toBe(12);
    const second = await runtime.run('news-enrichment', {}, { executionName: 'news-2' });
    expect(second.status).toBe('SUCCEEDED');
    expect(lastState(second)).toBe('Nothing to do');
    expect((second.output as any).check.pending).toBe(0);
  });

  it('runs from its hourly schedule under the schedule\'s role (states:StartExecution), with the schedule\'s input', async () => {
    const execution = (await fireSchedule(runtime, 'NewsEnrichmentHourly')) as ExecutionRecord;
    expect(execution.status).toBe('SUCCEEDED');
    expect(execution.input).toEqual({});
    expect(lastState(execution)).toBe('Nothing to do');
    const scheduler = runtime.accessReport().principals.find((p) => /SchedulerRoleForTarget/.test(p.principalArn))!;
    expect(scheduler.used).toEqual([expect.objectContaining({ action: 'states:StartExecution', resource: expect.stringMatching(/:stateMachine:emr-ml-dev-news-enrichment$/), allowed: 1, denied: 0 })]);
  });
});

describe('taxi-medallion', () => {
  it('streams the months over HTTP into bronze, then builds silver and gold', async () => {
    const source = path.join(root, 'taxi-source');
    generateTaxiMonths(runtime, source, ['2024-11'], 400);
    const server = await serveDirectory(source, runtime.aws.certificate);
    try {
      const execution = await runtime.run(
        'taxi-medallion',
        { months: ['2024-11'], sourceUrlTemplate: `${server.url}/year={year}/month={mm}/yellow_tripdata_{month}.parquet` },
        { executionName: 'taxi-1' },
      );
      expect(failureMessage(execution)).toBeUndefined();
      expect(lastState(execution)).toBe('Features written');
      const output = execution.output as any;
      expect(output.ingest.objects[0].uri).toBe(`s3://${lake}/bronze/taxi/yellow/year=2024/month=11/yellow_tripdata_2024-11.parquet`);
      expect(readFileSync(runtime.layout.uriToPath(output.ingest.objects[0].uri)).subarray(0, 4).toString()).toBe('PAR1');
      const silver = output.results.taxiPreprocess.counts;
      expect(silver.valid + silver.rejected).toBe(400);
      expect(output.results.taxiFeatures.counts.written).toBe(silver.valid);
    } finally {
      await server.close();
    }
  });
});
