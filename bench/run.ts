/**
 * Benchmark harness: `npm run bench` (full) or `npm run bench -- --quick` (tiny sizes, under 3 minutes).
 * Every figure is a ratio of two things measured in the same run, or a size/count/wall time against a goal.
 * Writes bench/results/latest.json and BENCHMARKS.md.
 */
import { Command } from 'commander';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';
import { parseStageConfig } from '../lib/config/stage-config';
import { getJobDefinition, toEntryPointArguments } from '../lib/jobs/catalog';
import { resolveGate, tuningArgs } from '../lib/pipelines/common';

export const REPO = resolve(__dirname, '..');
const PYTHON = join(REPO, '.venv', 'bin', 'python');

export interface BenchRow {
  /** Goal id from the issue table (P1a, P5:read-result…). */
  readonly id: string;
  readonly measure: string;
  readonly value: number | null;
  readonly unit: string;
  readonly goal: string;
  /** null when the figure could not be measured (see note). */
  readonly pass: boolean | null;
  readonly note?: string;
  readonly detail?: Record<string, unknown>;
}

/** full: the issue's sizes; quick: under 3 minutes; smoke: tiny sizes for the harness's own test. */
export type BenchProfile = 'full' | 'quick' | 'smoke';

export interface BenchOptions {
  readonly profile: BenchProfile;
  readonly only?: readonly string[];
  readonly out: string;
  readonly markdown: string;
}

type Goal = { readonly op: '<=' | '>='; readonly limit: number };

function judge(value: number | null, goal: Goal): boolean | null {
  if (value === null || !Number.isFinite(value)) return null;
  return goal.op === '<=' ? value <= goal.limit : value >= goal.limit;
}

function row(id: string, measure: string, value: number | null, unit: string, goal: Goal, extra: Partial<BenchRow> = {}): BenchRow {
  const rounded = value === null ? null : Number(value.toPrecision(4));
  return { id, measure, value: rounded, unit, goal: `${goal.op} ${goal.limit}${unit === '×' ? '×' : ` ${unit}`}`, pass: judge(value, goal), ...extra };
}

function failedRow(id: string, measure: string, unit: string, goal: Goal, error: unknown): BenchRow {
  const message = error instanceof Error ? error.message : String(error);
  return row(id, measure, null, unit, goal, { note: `not measured: ${message.split('\n').slice(-3).join(' ').slice(0, 300)}` });
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function wallSeconds(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): number {
  const started = process.hrtime.bigint();
  const result = spawnSync(command, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 256 * 1024 * 1024 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stderr?.toString().slice(-600)}`);
  }
  return seconds;
}

/** Runs a Python benchmark script that prints one JSON object as its last stdout line. */
export function runPythonBench(script: string, args: readonly string[]): Record<string, any> {
  const stdout = execFileSync(PYTHON, [join(REPO, script), ...args], {
    cwd: REPO,
    env: { ...process.env, PYTHONPATH: REPO },
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 256 * 1024 * 1024,
  }).toString();
  // The result is the last JSON object printed, on one line or indented over several.
  const lines = stdout.trimEnd().split('\n');
  for (let i = lines.length - 1; i >= 0; i -= 1) {
    if (!lines[i].startsWith('{')) continue;
    try {
      return JSON.parse(lines.slice(i).join('\n'));
    } catch {
      // an opening line of some other output; keep looking further up
    }
  }
  throw new Error(`${script} printed no JSON result`);
}

/** Lambda entry points: every lambda/<name>/index.ts except shared code. */
export function lambdaEntries(): { name: string; entry: string }[] {
  const root = join(REPO, 'lambda');
  return readdirSync(root, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== 'shared' && existsSync(join(root, d.name, 'index.ts')))
    .map((d) => ({ name: d.name, entry: join(root, d.name, 'index.ts') }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * P5: bundles each handler as NodejsFunction does for Node 22 (minified, AWS SDK v3 external because the
 * runtime provides it), then measures module init time (require of the bundle in a fresh process).
 */
export function benchLambdas(runs: number): BenchRow[] {
  const outDir = mkdtempSync(join(REPO, 'node_modules', '.bench-lambda-'));
  const rows: BenchRow[] = [];
  try {
    for (const { name, entry } of lambdaEntries()) {
      const outfile = join(outDir, `${name}.js`);
      try {
        buildSync({
          entryPoints: [entry], bundle: true, minify: true, platform: 'node', target: 'node22', format: 'cjs',
          external: ['@aws-sdk/*'], outfile, logLevel: 'silent',
        });
        const bytes = statSync(outfile).size;
        const env = { ...process.env, AWS_REGION: 'us-east-1', POWERTOOLS_SERVICE_NAME: name, LAKE_BUCKET: 'bench', ARTIFACTS_BUCKET: 'bench', LOGS_BUCKET: 'bench', MODELS_BUCKET: 'bench' };
        const probe = `const t=process.hrtime.bigint();require(${JSON.stringify(outfile)});process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`;
        const inits: number[] = [];
        for (let i = 0; i < runs; i += 1) {
          inits.push(Number(execFileSync(process.execPath, ['-e', probe], { cwd: REPO, env }).toString()));
        }
        rows.push(row(`P5:${name}:bytes`, `Lambda ${name}: bundle size (minified)`, bytes, 'bytes', { op: '<=', limit: 1_000_000 }));
        rows.push(row(`P5:${name}:init`, `Lambda ${name}: module init (median of ${runs})`, median(inits), 'ms', { op: '<=', limit: 100 }));
      } catch (error) {
        rows.push(failedRow(`P5:${name}:bytes`, `Lambda ${name}: bundle size (minified)`, 'bytes', { op: '<=', limit: 1_000_000 }, error));
      }
    }
  } finally {
    rmSync(outDir, { recursive: true, force: true });
  }
  return rows;
}

/** P6: `cdk synth` of the whole app (all stacks), wall time. */
export function benchSynth(runs: number): BenchRow[] {
  const goal: Goal = { op: '<=', limit: 15 };
  try {
    const times: number[] = [];
    for (let i = 0; i < runs; i += 1) {
      const out = mkdtempSync(join(tmpdir(), 'bench-synth-'));
      try {
        times.push(wallSeconds(join(REPO, 'node_modules', '.bin', 'cdk'), ['synth', '--quiet', '--output', out]));
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    }
    return [row('P6', `cdk synth of the whole app, wall (median of ${runs})`, median(times), 's', goal, { detail: { runs: times } })];
  } catch (error) {
    return [failedRow('P6', 'cdk synth of the whole app, wall', 's', goal, error)];
  }
}

export function describeMachine(): Record<string, unknown> {
  const version = (cmd: string, args: string[]): string => {
    try {
      const r = spawnSync(cmd, args, { cwd: REPO });
      return `${r.stdout?.toString() ?? ''}${r.stderr?.toString() ?? ''}`.trim().split('\n')[0];
    } catch {
      return 'not found';
    }
  };
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    node: process.version,
    python: version(PYTHON, ['--version']),
    pyspark: version(PYTHON, ['-c', 'import pyspark; print(pyspark.__version__)']),
    java: version('java', ['-version']),
  };
}

export type BenchSection = (options: BenchOptions) => BenchRow[];

/**
 * P1 + P4 (ETL): bench/netflix_etl.py — ETL process wall vs the floor's (Spark CSV parse of the rating rows +
 * partitioned Parquet write, spark-submit local[2], default 1 GiB driver) at 1× and 10×; vs a seed-style RDD
 * parser in one process; driver RSS 1× vs 10×.
 */
const NETFLIX_ARGS: Record<BenchProfile, string[]> = {
  full: ['--ratings', '3000000', '--scale', '10'],
  quick: ['--ratings', '50000', '--scale', '10'],
  smoke: ['--ratings', '2000', '--scale', '10'],
};

export function benchNetflixEtl(profile: BenchProfile): BenchRow[] {
  const goals = {
    floor: { op: '<=', limit: 1.5 } as Goal,
    seed: { op: '>=', limit: 2 } as Goal,
    mem: { op: '<=', limit: 1.2 } as Goal,
    upsert: { op: '<=', limit: 1.5 } as Goal,
  };
  try {
    const r = runPythonBench('bench/netflix_etl.py', NETFLIX_ARGS[profile]);
    const t = r.timing ?? {};
    const scale = Object.keys(r.memory ?? {}).find((k) => k !== '1x');
    const rss = (k: string | undefined): number | undefined => (k ? r.memory?.[k]?.jvmDriverPeakRssMB : undefined);
    const memRatio = rss('1x') && rss(scale) ? (rss(scale) as number) / (rss('1x') as number) : null;
    const size = `${r.ratings} ratings`;
    const floorRows = Object.entries((r.process ?? {}) as Record<string, any>).map(([key, p]) => {
      const id = key === '1x' ? 'P1a' : `P1a:${key}`;
      const measure = `Netflix ETL process wall / floor process wall (CSV parse + partitioned write; ${p.ratings} ratings, local[2], default driver)`;
      const failed = [['ETL', p.etl], ['floor', p.floor]].filter(([, q]) => q.exitCode !== 0)
        .map(([name, q]) => `${name} process failed (exit ${q.exitCode}): ${q.cause ?? 'unknown'}`);
      return row(id, measure, p.ratioEtlToFloor ?? null, '×', goals.floor, {
        detail: p,
        note: failed.length ? failed.join('; ') : `ETL ${p.etl.wallSeconds} s vs floor ${p.floor.wallSeconds} s (load ${p.loadAverage?.toFixed?.(1)})`,
        // an ETL that dies where the floor runs is a failure, not "not measured"
        ...(p.etl.exitCode !== 0 && p.floor.exitCode === 0 ? { pass: false } : {}),
      });
    });
    return [
      ...floorRows,
      row('P1b', `Seed-style Python-RDD parser wall / our ETL wall (${size}, one process)`, t.speedupVsSeedStyle ?? null, '×', goals.seed,
        { detail: t, note: t.seedStyleRowsLost ? `seed-style parser also lost ${t.seedStyleRowsLost} rows` : undefined }),
      row('P4a', `ETL driver (JVM) peak RSS at ${scale ?? '10x'} / at 1x`, memRatio, '×', goals.mem, { detail: r.memory }),
      upsertRow(r.upsert, goals.upsert),
    ];
  } catch (error) {
    return [
      failedRow('P1a', 'Netflix ETL process wall / floor process wall', '×', goals.floor, error),
      failedRow('P1b', 'Seed-style Python-RDD parser wall / our ETL wall', '×', goals.seed, error),
      failedRow('P4a', 'ETL driver peak RSS 10x / 1x', '×', goals.mem, error),
      failedRow('P1c', UPSERT_MEASURE, '×', goals.upsert, error),
    ];
  }
}

const UPSERT_MEASURE = 'Upsert (Delta MERGE) of the 1x batch into the 10x table / ETL of the batch alone into an empty table';

function upsertRow(u: any, goal: Goal): BenchRow {
  if (!u) return row('P1c', UPSERT_MEASURE, null, '×', goal, { note: 'not measured (--skip-upsert)' });
  const failed = [['table setup', u.setup], ['batch alone', u.batchAlone], ['upsert', u.upsert]]
    .filter(([, q]) => q.exitCode !== 0)
    .map(([name, q]) => `${name} process failed (exit ${q.exitCode}): ${q.cause ?? 'unknown'}`);
  const c = u.upsert?.counts ?? {};
  return row('P1c', `${UPSERT_MEASURE} (${u.batchRatings} into ${u.tableRows} rows)`, u.ratioUpsertToBatchAlone ?? null, '×', goal, {
    detail: u,
    note: failed.length
      ? failed.join('; ')
      : `upsert ${u.upsert.wallSeconds} s vs alone ${u.batchAlone.wallSeconds} s; inserted ${c.inserted}, updated ${c.updated}, files added ${c.filesAdded}, removed ${c.filesRemoved}, deletion vectors ${c.deletionVectorsAdded}`,
  });
}

/** P2 + P4 (news): bench/news_throughput.py — articles/s PG → models → PG vs bare model inference on the same texts. */
const NEWS_ARTICLES: Record<BenchProfile, string[]> = { full: [], quick: ['--quick'], smoke: ['--articles', '40'] };

export function benchNewsThroughput(profile: BenchProfile): BenchRow[] {
  const goal: Goal = { op: '>=', limit: 0.6 };
  const memGoal: Goal = { op: '<=', limit: 1.2 };
  try {
    const r = runPythonBench('bench/news_throughput.py', NEWS_ARTICLES[profile]);
    const { memory, byPrecision, ...summary } = r;
    const rows = [row('P2', `News enrichment articles/s end to end / bare inference articles/s (${r.precision ?? 'fp32'}, ${r.articles} articles)`, r.ratio ?? null, '×', goal,
      { detail: summary, note: r.endToEndArticlesPerSecond ? `${r.endToEndArticlesPerSecond} vs ${r.bareInferenceArticlesPerSecond} articles/s` : undefined })];
    // P9 (issue 14): the int8 export against the fp32 graph, both end to end in this run
    const p = byPrecision as Record<string, { endToEndArticlesPerSecond: number; bareInferenceArticlesPerSecond: number }> | undefined;
    rows.push(row('P9', `News articles/s end to end, int8 / fp32 embedding model (${r.articles} articles)`, r.endToEndInt8OverFp32 ?? null, '×', { op: '>=', limit: 2 },
      p ? { detail: byPrecision, note: `end to end ${p.int8.endToEndArticlesPerSecond} vs ${p.fp32.endToEndArticlesPerSecond} articles/s; bare inference ${p.int8.bareInferenceArticlesPerSecond} vs ${p.fp32.bareInferenceArticlesPerSecond} (${r.bareInt8OverFp32}×)` }
        : { note: 'not measured: news_throughput.py reports no per-precision rates' }));
    const mem = memory as Record<string, { driverPeakRssMB?: number; jvmDriverPeakRssMB?: number; pythonDriverPeakRssMB?: number; articles?: number }> | undefined;
    const keys = mem ? Object.keys(mem) : [];
    const big = keys.find((k) => k !== '1x');
    rows.push(row('P4b', `News driver (JVM + Python) peak RSS at ${big ?? '10x'} / at 1x`, mem && big && mem['1x']?.driverPeakRssMB && mem[big]?.driverPeakRssMB
      ? (mem[big].driverPeakRssMB as number) / (mem['1x'].driverPeakRssMB as number) : null, '×', memGoal,
      mem && big ? { detail: mem, note: `${mem['1x'].articles} vs ${mem[big].articles} articles: JVM ${mem['1x'].jvmDriverPeakRssMB} → ${mem[big].jvmDriverPeakRssMB} MB, Python ${mem['1x'].pythonDriverPeakRssMB} → ${mem[big].pythonDriverPeakRssMB} MB` }
        : { note: 'not measured: news_throughput.py reports no driver memory' }));
    return rows;
  } catch (error) {
    return [failedRow('P2', 'News enrichment articles/s end to end / bare inference', '×', goal, error),
      failedRow('P9', 'News articles/s end to end, int8 / fp32 embedding model', '×', { op: '>=', limit: 2 }, error),
      failedRow('P4b', 'News driver peak RSS 10x / 1x', '×', memGoal, error)];
  }
}

/** P2b (issue 4's goal): batched Arrow model inference vs an S0-style per-row HTTP UDF. */
export function benchNewsUdf(profile: BenchProfile): BenchRow[] {
  const goal: Goal = { op: '>=', limit: 10 };
  try {
    const r = runPythonBench('bench/news_udf.py', NEWS_ARTICLES[profile]);
    return [row('P2b', `S0-style per-row UDF wall / our batched enrichment wall (${r.articles} articles)`, r.speedup ?? null, '×', goal, { detail: r })];
  } catch (error) {
    return [failedRow('P2b', 'S0-style per-row UDF / batched enrichment', '×', goal, error)];
  }
}

const WRITEBACK_ROWS: Record<BenchProfile, string[]> = { full: ['--rows', '50000'], quick: ['--quick'], smoke: ['--rows', '500'] };

/** P3: bench/news_writeback.py — set-based write-back (executors' COPY + one UPDATE … FROM) vs row-by-row UPDATE. */
export function benchWriteback(profile: BenchProfile): BenchRow[] {
  const goal: Goal = { op: '>=', limit: 20 };
  try {
    const r = runPythonBench('bench/news_writeback.py', WRITEBACK_ROWS[profile]);
    return [row('P3', `Row-by-row UPDATE wall / set-based write-back wall (${r.rows} rows)`, r.speedup ?? null, '×', goal, { detail: r })];
  } catch (error) {
    return [failedRow('P3', 'Row-by-row UPDATE / set-based write-back', '×', goal, error)];
  }
}

const DEMO_RECORD = join(REPO, 'bench', 'results', 'demo-wall.json');

/**
 * P7: README line 1's demo with dependencies installed, wall time. The demo alone takes minutes, so only the full
 * profile runs it (and records the figure); quick/smoke report the last full measurement with its date.
 */
export function benchDemo(profile: BenchProfile): BenchRow[] {
  const goal: Goal = { op: '<=', limit: 300 };
  const measure = 'Local demo wall (npm run demo, deps installed)';
  if (profile !== 'full') {
    if (!existsSync(DEMO_RECORD)) {
      return [row('P7', measure, null, 's', goal, { note: 'not measured: only the full profile runs the demo (`npm run bench -- --only P7`)' })];
    }
    const last = JSON.parse(readFileSync(DEMO_RECORD, 'utf8')) as { seconds: number; measuredAt: string };
    return [row('P7', measure, last.seconds, 's', goal, { note: `last full measurement, ${last.measuredAt}` })];
  }
  try {
    const seconds = wallSeconds('npm', ['run', 'demo']);
    writeFileSync(DEMO_RECORD, `${JSON.stringify({ seconds, measuredAt: new Date().toISOString() })}\n`);
    return [row('P7', measure, seconds, 's', goal)];
  } catch (error) {
    return [failedRow('P7', measure, 's', goal, error)];
  }
}

/** P8: the local IAM enforcement's cost per call (bench/iam_enforcement.ts, in its own process: it is async). */
export function benchIamEnforcement(profile: BenchProfile): BenchRow[] {
  const calls = profile === 'full' ? 2000 : profile === 'quick' ? 500 : 50;
  const measure = (id: string) => `P8${id}`;
  try {
    const stdout = execFileSync(join(REPO, 'node_modules', '.bin', 'tsx'), [join(REPO, 'bench', 'iam_enforcement.ts'), String(calls)], {
      cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024,
    }).toString();
    const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, number>;
    return [
      row(measure('a'), `IAM enforcement: authorize() of a new S3 request, per call (${calls} calls)`, r.authorizeColdMicros, 'µs', { op: '<=', limit: 2000 }),
      row(measure('b'), `IAM enforcement: authorize() answered from the decision cache, per call`, r.authorizeCachedMicros, 'µs', { op: '<=', limit: 100 }),
      row(measure('c'), 'IAM enforcement: S3 GetObject identified + authorized + served, minus the store alone, per call', r.getObjectAuthorizedMs - r.getObjectDirectMs, 'ms', { op: '<=', limit: 5 },
        { detail: { authorizedMs: r.getObjectAuthorizedMs, directMs: r.getObjectDirectMs } }),
    ];
  } catch (error) {
    return [failedRow(measure('a'), 'IAM enforcement cost per call', 'µs', { op: '<=', limit: 2000 }, error)];
  }
}

const RECOMMENDER_RATINGS: Record<BenchProfile, string[]> = {
  full: ['--ratings', '100000'],
  quick: ['--ratings', '30000', '--movies', '1000', '--customers', '600'],
  smoke: ['--ratings', '3000', '--movies', '200', '--customers', '150'],
};

/** The train job arguments of the dev stage's defaults: ALS parameters and the search the train step runs. */
export function defaultTrainArguments(): string[] {
  const r = parseStageConfig('dev', {}).recommender;
  const gate = resolveGate(undefined, r.gate);
  const args = { rank: r.rank, regParam: r.regParam, maxIter: r.maxIter, ...tuningArgs(r.tuning, gate.objective, r.k, r.threshold) };
  return toEntryPointArguments(getJobDefinition('train'), Object.fromEntries(Object.entries(args).filter(([, v]) => v !== undefined)));
}

/**
 * R (issue 13): bench/recommender_quality.py — the default search on generated data with popularity skew and
 * taste clusters (and on a held-out real set when `BENCH_REAL_RATINGS` names one): ranking model NDCG@10 vs
 * most-popular-unseen, rating model RMSE vs the user/item bias, the train step's wall time.
 */
export function benchRecommender(profile: BenchProfile): BenchRow[] {
  const lift: Goal = { op: '>=', limit: 1.25 };
  const rmse: Goal = { op: '<=', limit: 1 };
  const minutes: Goal = { op: '<=', limit: 300 };
  const real = process.env.BENCH_REAL_RATINGS;
  try {
    const r = runPythonBench('bench/recommender_quality.py', [...RECOMMENDER_RATINGS[profile], ...(real ? ['--real', real] : []), '--', ...defaultTrainArguments()]);
    const rows: BenchRow[] = [];
    for (const [key, label] of [['generated', `generated, popularity skew + taste clusters, ${r.generated.ratings} ratings`], ['real', 'held-out real set']] as const) {
      const m = r[key];
      const suffix = key === 'generated' ? '' : ':real';
      if (!m) {
        const note = 'not measured: no held-out real set (BENCH_REAL_RATINGS=DIR with train.txt + test.txt in Netflix format)';
        rows.push(row(`R1${suffix}`, `Ranking model NDCG@10 / most popular unseen (${label})`, null, '×', lift, { note }));
        rows.push(row(`R2${suffix}`, `Rating model RMSE / user-item bias RMSE (${label})`, null, '×', rmse, { note }));
        continue;
      }
      rows.push(row(`R1${suffix}`, `Ranking model NDCG@10 / most popular unseen (${label})`, round(m.ndcgLiftOverPopularity), '×', lift,
        { note: `NDCG@10 ${round(m.ndcgAtK)} vs ${round(m.popularityNdcgAtK)}; P@10 ${round(m.precisionAtK)} vs ${round(m.popularityPrecisionAtK)}`, detail: m }));
      rows.push(row(`R2${suffix}`, `Rating model RMSE / user-item bias RMSE (${label})`, round(m.rmseOverBias), '×', rmse,
        { note: `RMSE ${round(m.rmse)} vs bias ${round(m.biasRmse)}, global mean ${round(m.globalMeanRmse)}` }));
    }
    rows.push(row('R3', `Train step with the default search, wall (${r.generated.trainRatings} training ratings, ${r.cores} cores)`, r.generated.trainSeconds, 's', minutes,
      { note: `${Object.values(r.generated.search ?? {}).map((s: any) => `${s.objective}: ${s.candidates} candidates`).join(', ')} + refits` }));
    return rows;
  } catch (error) {
    return [failedRow('R1', 'Ranking model NDCG@10 / most popular unseen', '×', lift, error), failedRow('R3', 'Train step with the default search, wall', 's', minutes, error)];
  }
}

const round = (v: number): number => Math.round(v * 10000) / 10000;

export const SECTIONS: Record<string, BenchSection> = {
  P1: (o) => benchNetflixEtl(o.profile),
  P2: (o) => [...benchNewsThroughput(o.profile), ...benchNewsUdf(o.profile)],
  P3: (o) => benchWriteback(o.profile),
  P5: (o) => benchLambdas(o.profile === 'full' ? 7 : 3),
  P6: (o) => benchSynth(o.profile === 'full' ? 3 : 1),
  P7: (o) => benchDemo(o.profile),
  P8: (o) => benchIamEnforcement(o.profile),
  R: (o) => benchRecommender(o.profile),
};

export function renderMarkdown(results: { machine: Record<string, unknown>; mode: string; generatedAt: string; rows: readonly BenchRow[] }): string {
  const lines = [
    '# Benchmarks',
    '',
    `Generated by \`npm run bench${results.mode === 'full' ? '' : ` -- --${results.mode}`}\` at ${results.generatedAt} (${results.mode} mode).`,
    '',
    `Machine: ${Object.entries(results.machine).map(([k, v]) => `${k} ${v}`).join('; ')}.`,
    '',
    '| id | measure | value | goal | pass | note |',
    '|---|---|---|---|---|---|',
    ...results.rows.map((r) => `| ${r.id} | ${r.measure} | ${r.value ?? '—'} ${r.value === null ? '' : r.unit} | ${r.goal} | ${r.pass === null ? 'not measured' : r.pass ? 'pass' : '**FAIL**'} | ${r.note ?? ''} |`),
    '',
  ];
  return lines.join('\n');
}

/** Known causes of goals this code base misses, shown beside a FAIL / not-measured row. */
export const KNOWN_CAUSES: Record<string, string> = {
  P1a: 'cause: besides the floor\'s parse + sorted partitioned write, the ETL makes one extra cheap pass (the per-chunk table for header attribution and line numbers), shuffles the rows for the hash-aggregated dedup, and re-reads the text for the chunks holding rejects',
  P1b: 'cause: the seed-style parser skips rejects, upsert and versioning and silently loses the rows before the first header of each split (see detail: seedStyleRowsLost)',
  P2b: 'cause: both paths spend their time in the same ONNX inference (~9 ms/article/core); a per-row HTTP call on loopback adds little',
  P9: 'cause: int8 inference alone is ~2.0× fp32 on one core and ~1.8× on two (quantized MatMul ~2.5–3× faster; QAttention\'s softmax/attention, BiasGelu and LayerNorm stay fp32, ~45% of int8 time), and the job\'s non-model work (Spark tasks, JDBC read, Arrow, VADER, COPY + UPDATE: ~4–5 s per 1500 articles) does not get faster; 2× end to end needs ~3× inference',
  P3: 'cause: the set-based wall is the executors\' binary COPY into staging (Spark → Arrow → Python for the 384-float arrays, PostgreSQL\'s per-element float4 receive) plus the one UPDATE … FROM (~0.8 s at 50k rows), and at 5k rows mostly a Spark job\'s fixed cost; loopback and a local disk make row-by-row commits unusually cheap, so the ratio moves with the commit latency',
};

export function runBenchmarks(options: BenchOptions): { rows: BenchRow[]; machine: Record<string, unknown> } {
  const rows: BenchRow[] = [];
  for (const [id, section] of Object.entries(SECTIONS)) {
    if (options.only && options.only.length > 0 && !options.only.includes(id)) continue;
    process.stderr.write(`bench: ${id}…\n`);
    for (const measured of section(options)) {
      const cause = measured.pass !== true ? KNOWN_CAUSES[measured.id] : undefined;
      rows.push(cause ? { ...measured, note: [measured.note, cause].filter(Boolean).join('; ') } : measured);
    }
  }
  const machine = describeMachine();
  const results = { generatedAt: new Date().toISOString(), mode: options.profile, machine, rows };
  mkdirSync(join(options.out, '..'), { recursive: true });
  writeFileSync(options.out, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(options.markdown, renderMarkdown(results));
  return { rows, machine };
}

if (require.main === module) {
  const program = new Command()
    .name('bench')
    .description('Measure every performance goal side by side; writes bench/results/latest.json and BENCHMARKS.md.')
    .option('--quick', 'small sizes, under 3 minutes', false)
    .option('--smoke', 'tiny sizes (the harness\'s own test)', false)
    .option('--only <ids>', 'comma-separated section ids (e.g. P1,P5)')
    .option('--out <file>', 'JSON results file', join(REPO, 'bench', 'results', 'latest.json'))
    .option('--markdown <file>', 'Markdown table', join(REPO, 'BENCHMARKS.md'))
    .action((opts: { quick: boolean; smoke: boolean; only?: string; out: string; markdown: string }) => {
      const profile: BenchProfile = opts.smoke ? 'smoke' : opts.quick ? 'quick' : 'full';
      const { rows } = runBenchmarks({ profile, only: opts.only?.split(','), out: resolve(opts.out), markdown: resolve(opts.markdown) });
      for (const r of rows) process.stdout.write(`${r.id.padEnd(32)} ${String(r.value ?? '—').padStart(12)} ${r.unit.padEnd(6)} goal ${r.goal.padEnd(14)} ${r.pass === null ? 'not measured' : r.pass ? 'pass' : 'FAIL'}\n`);
    });
  program.parse();
}
