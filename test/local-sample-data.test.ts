/**
 * The runner's stand-in for the public trip-data site serves HTTPS with the loopback certificate, and the
 * process's global fetch (what the in-process ingest-taxi-month Lambda downloads with) trusts it — also from
 * inside Jest, whose globals are another realm.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loopbackCertificate } from '../local/endpoint/tls';
import type { LocalRuntime } from '../local/runtime';
import { deltaTableUploadOrder, seedNewsTable, serveDirectory } from '../local/sample-data';

const projectRoot = path.resolve(__dirname, '..');

test('serveDirectory serves files over HTTPS that the global fetch trusts', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'serve-'));
  mkdirSync(path.join(dir, 'year=2024', 'month=11'), { recursive: true });
  writeFileSync(path.join(dir, 'year=2024', 'month=11', 'trips.parquet'), 'PAR1 fake PAR1');
  const server = await serveDirectory(dir, loopbackCertificate(path.join(projectRoot, '.cache', 'local-tls')));
  try {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ok = await fetch(`${server.url}/year=2024/month=11/trips.parquet`);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('PAR1 fake PAR1');
    const missing = await fetch(`${server.url}/../etc/passwd`);
    expect(missing.status).toBe(404);
  } finally {
    await server.close();
  }
});

test('deltaTableUploadOrder: data files, then the commits by version, then checkpoints, _last_checkpoint last', () => {
  const commit = (n: number) => `_delta_log/${String(n).padStart(20, '0')}.json`;
  expect(
    deltaTableUploadOrder([
      '_delta_log/_last_checkpoint',
      commit(10),
      '_delta_log/00000000000000000010.checkpoint.parquet',
      commit(2),
      'year=2005/month=1/part-00001-b.c000.snappy.parquet',
      'part-00000-a.c000.snappy.parquet',
      '_delta_log/00000000000000000002.crc',
    ]),
  ).toEqual([
    'part-00000-a.c000.snappy.parquet',
    'year=2005/month=1/part-00001-b.c000.snappy.parquet',
    commit(2),
    commit(10),
    '_delta_log/00000000000000000002.crc',
    '_delta_log/00000000000000000010.checkpoint.parquet',
    '_delta_log/_last_checkpoint',
  ]);
});

test('seedNewsTable: each call commits the next version of the Delta table (delta-rs), uploading only its new files, the commit last', async () => {
  const root = mkdtempSync(path.join(tmpdir(), 'seed-news-'));
  const bucketDir = path.join(root, 's3', 'lake');
  const uploads: string[][] = [];
  const runtime = {
    projectRoot,
    layout: { root, objectPath: (_bucket: string, key: string) => path.join(bucketDir, ...key.split('/')) },
    putObjectAsOperator: async (bucket: string, key: string, body: Buffer | string) => {
      expect(bucket).toBe('lake');
      uploads.at(-1)!.push(key);
      const target = path.join(bucketDir, ...key.split('/'));
      mkdirSync(path.dirname(target), { recursive: true });
      writeFileSync(target, body);
    },
  } as unknown as LocalRuntime;
  const articles = path.join(root, 'articles.jsonl');
  writeFileSync(articles, readFileSync(path.join(projectRoot, 'data', 'sample', 'news', 'articles.jsonl'), 'utf8').split('\n').slice(0, 5).join('\n'));
  try {
    for (const expected of [0, 1]) {
      uploads.push([]);
      await expect(seedNewsTable(runtime, 'lake', 'bronze/news/articles', articles)).resolves.toBe(expected);
    }
    const commit = (n: number) => `bronze/news/articles/_delta_log/${String(n).padStart(20, '0')}.json`;
    for (const [version, keys] of uploads.entries()) {
      expect(keys).toHaveLength(2);
      expect(keys[0]).toMatch(/^bronze\/news\/articles\/part-00000-[0-9a-f-]+-c000\.snappy\.parquet$/);
      expect(keys[1]).toBe(commit(version));
    }
    const actions = readFileSync(path.join(bucketDir, ...commit(1).split('/')), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const info = actions.find((a) => a.commitInfo)!.commitInfo;
    expect(info.operationParameters.mode).toBe('Overwrite');
    expect(JSON.parse(info.userMetadata)).toMatchObject({ kind: 'news-articles', rows: 5 });
    expect(actions.filter((a) => a.remove).map((a) => a.remove.path)).toEqual([path.basename(uploads[0]![0]!)]);
    expect(JSON.parse(actions.find((a) => a.add)!.add.stats).numRecords).toBe(5); // what check-articles counts
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
