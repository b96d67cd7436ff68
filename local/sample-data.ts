import { execFileSync } from 'node:child_process';
import { copyFileSync, createReadStream, existsSync, mkdirSync, statSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { LocalRuntime } from './runtime';

/**
 * Puts the bundled sample (`data/sample/`) where a deployed platform expects its inputs — the lake's bronze
 * tier (CONTRACTS.md "S3 layout") — and serves synthetic taxi months over HTTP for the ingest Lambda, which
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

export function seedSampleData(runtime: LocalRuntime, sampleDir = path.join(runtime.projectRoot, 'data', 'sample')): SampleLocations {
  const lake = runtime.bucketFromEnv('LAKE_BUCKET');
  const put = (file: string, key: string) => {
    if (!existsSync(file)) throw new Error(`Sample file ${file} is missing (data/sample is part of the repository)`);
    const target = runtime.layout.objectPath(lake, key);
    mkdirSync(path.dirname(target), { recursive: true });
    copyFileSync(file, target);
  };
  const netflix = path.join(sampleDir, 'netflix');
  for (const name of ['train.txt', 'test.txt', 'future.txt']) put(path.join(netflix, name), `bronze/netflix/raw/${name}`);
  put(path.join(netflix, 'stream', 'batch-clean.csv'), 'bronze/netflix/stream/incoming/clean/batch-clean.csv');
  put(path.join(netflix, 'stream', 'batch-drifted.csv'), 'bronze/netflix/stream/incoming/drifted/batch-drifted.csv');

  const newsRoot = runtime.layout.objectPath(lake, 'bronze/news/articles');
  execFileSync(
    path.join(runtime.projectRoot, '.venv', 'bin', 'python'),
    [path.join(runtime.projectRoot, 'local', 'seed_news.py'), '--input', path.join(sampleDir, 'news', 'articles.jsonl'), '--root', newsRoot, '--uri', `s3://${lake}/bronze/news/articles`],
    { stdio: 'pipe' },
  );
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

/** Synthetic TLC-schema months (jobs/taxi_generate.py) written under `dir/year=YYYY/month=MM/`. */
export function generateTaxiMonths(runtime: LocalRuntime, dir: string, months: string[], rowsPerMonth = 3000): void {
  execFileSync(
    path.join(runtime.projectRoot, '.venv', 'bin', 'python'),
    ['-m', 'jobs.taxi_generate', '--output', dir, '--months', months.join(','), '--rows-per-month', String(rowsPerMonth)],
    { cwd: runtime.projectRoot, stdio: 'pipe' },
  );
}

/** A static file server on 127.0.0.1 standing in for the public trip-data site. */
export async function serveDirectory(dir: string): Promise<{ readonly url: string; readonly server: Server; close(): Promise<void> }> {
  const root = path.resolve(dir);
  const server = createServer((req, res) => {
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
    url: `http://127.0.0.1:${port}`,
    server,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
