import { execFileSync } from 'node:child_process';
import { cpSync, createReadStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer, Server } from 'node:https';
import { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { LoopbackCertificate } from './endpoint/tls';
import { trustInFetch } from './fetch-trust';
import type { LocalRuntime } from './runtime';

/**
 * Puts the bundled sample (`data/sample/`) where a deployed platform expects its inputs — the lake's bronze
 * tier (CONTRACTS.md "S3 layout") — and serves synthetic taxi months over HTTPS for the ingest Lambda, which
 * streams them like it streams the public TLC files.
 */
export interface SampleLocations {
  /** `s3://<lake>/bronze/netflix/stream/incoming/clean/` */
  readonly cleanBatch: string;
  /** `s3://<lake>/bronze/netflix/stream/incoming/drifted/` */
  readonly driftedBatch: string;
  /** `s3://<lake>/bronze/news/articles/` */
  readonly newsSource: string;
  /** Local file of the original training ratings and of each batch (for the report's histograms). */
  readonly files: { readonly train: string; readonly clean: string; readonly drifted: string };
}

/** Uploads the sample as the local operator (every object a PutObject through the authorized SDK routing). */
export async function seedSampleData(runtime: LocalRuntime, sampleDir = path.join(runtime.projectRoot, 'data', 'sample')): Promise<SampleLocations> {
  const lake = runtime.bucketFromEnv('LAKE_BUCKET');
  const put = async (file: string, key: string) => {
    if (!existsSync(file)) throw new Error(`Sample file ${file} is missing (data/sample is part of the repository)`);
    await runtime.putObjectAsOperator(lake, key, readFileSync(file));
  };
  const netflix = path.join(sampleDir, 'netflix');
  for (const name of ['train.txt', 'test.txt', 'future.txt']) await put(path.join(netflix, name), `bronze/netflix/raw/${name}`);
  await put(path.join(netflix, 'stream', 'batch-clean.csv'), 'bronze/netflix/stream/incoming/clean/batch-clean.csv');
  await put(path.join(netflix, 'stream', 'batch-drifted.csv'), 'bronze/netflix/stream/incoming/drifted/batch-drifted.csv');

  // the news table is built in a scratch directory, then uploaded file by file: data files before the commits
  await seedNewsTable(runtime, lake, 'bronze/news/articles', path.join(sampleDir, 'news', 'articles.jsonl'));
  return {
    cleanBatch: `s3://${lake}/bronze/netflix/stream/incoming/clean/`,
    driftedBatch: `s3://${lake}/bronze/netflix/stream/incoming/drifted/`,
    newsSource: `s3://${lake}/bronze/news/articles/`,
    files: {
      train: path.join(netflix, 'train.txt'),
      clean: path.join(netflix, 'stream', 'batch-clean.csv'),
      drifted: path.join(netflix, 'stream', 'batch-drifted.csv'),
    },
  };
}

/**
 * Commits `articles` (JSON lines) as a new version of the Delta table at `s3://<bucket>/<root>/` (local/seed_news.py,
 * delta-rs), as the operator: the table's existing log is copied beside the scratch build first, so an existing
 * table gets its next version rather than a second version 0; only the new files are uploaded, in
 * {@link deltaTableUploadOrder}. Returns the committed version.
 */
export async function seedNewsTable(runtime: LocalRuntime, bucket: string, root: string, articles: string): Promise<number> {
  if (!existsSync(articles)) throw new Error(`Sample file ${articles} is missing (data/sample is part of the repository)`);
  const scratch = mkdtempSync(path.join(runtime.layout.root, 'seed-news-'));
  try {
    const existingLog = runtime.layout.objectPath(bucket, `${root}/_delta_log`);
    if (existsSync(existingLog)) cpSync(existingLog, path.join(scratch, '_delta_log'), { recursive: true });
    const before = new Set(listFiles(scratch).map((f) => relativeKey(scratch, f)));
    const output = execFileSync(
      path.join(runtime.projectRoot, '.venv', 'bin', 'python'),
      [path.join(runtime.projectRoot, 'local', 'seed_news.py'), '--input', articles, '--root', scratch, '--uri', `s3://${bucket}/${root}`],
      { stdio: 'pipe', encoding: 'utf8' },
    );
    const written = deltaTableUploadOrder(listFiles(scratch).map((f) => relativeKey(scratch, f)).filter((f) => !before.has(f)));
    for (const file of written) await runtime.putObjectAsOperator(bucket, `${root}/${file}`, readFileSync(path.join(scratch, ...file.split('/'))));
    return (JSON.parse(output.trim().split('\n').at(-1)!) as { version: number }).version;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * The files of a Delta table directory (`/`-separated paths relative to its root) in the order to upload them so
 * that a reader never sees a version before its files: data files, then the commits `_delta_log/<N>.json` by
 * version, then the other log files (checkpoints, checksums), `_delta_log/_last_checkpoint` last.
 */
export function deltaTableUploadOrder(files: readonly string[]): string[] {
  const rank = (file: string) => {
    if (!file.startsWith('_delta_log/')) return 0;
    if (/^_delta_log\/\d{20}\.json$/.test(file)) return 1;
    return file === '_delta_log/_last_checkpoint' ? 3 : 2;
  };
  return [...files].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

const relativeKey = (root: string, file: string) => path.relative(root, file).split(path.sep).join('/');

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/** Synthetic TLC-schema months (jobs/taxi_generate.py) written under `dir/year=YYYY/month=MM/`. */
export function generateTaxiMonths(runtime: LocalRuntime, dir: string, months: string[], rowsPerMonth = 3000): void {
  execFileSync(
    path.join(runtime.projectRoot, '.venv', 'bin', 'python'),
    ['-m', 'jobs.taxi_generate', '--output', dir, '--months', months.join(','), '--rows-per-month', String(rowsPerMonth)],
    { cwd: runtime.projectRoot, stdio: 'pipe' },
  );
}

/**
 * A static HTTPS file server on 127.0.0.1 standing in for the public trip-data site (the pipeline accepts only
 * https source URLs), with the runner's loopback certificate (`runtime.aws.certificate`); this process's `fetch`
 * is made to trust it (fetch-trust.ts), so the in-process ingest Lambda downloads from it unchanged.
 */
export async function serveDirectory(dir: string, certificate: LoopbackCertificate): Promise<{ readonly url: string; readonly server: Server; close(): Promise<void> }> {
  const root = path.resolve(dir);
  trustInFetch(certificate.caPem);
  const server = createServer({ pfx: certificate.pfx, passphrase: certificate.passphrase }, (req, res) => {
    const file = path.resolve(root, `.${decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)}`);
    if (!file.startsWith(root + path.sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': statSync(file).size });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
