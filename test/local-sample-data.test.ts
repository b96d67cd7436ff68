/**
 * The runner's stand-in for the public trip-data site serves HTTPS with the loopback certificate, and the
 * process's global fetch (what the in-process ingest-taxi-month Lambda downloads with) trusts it — also from
 * inside Jest, whose globals are another realm.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loopbackCertificate } from '../local/endpoint/tls';
import { serveDirectory } from '../local/sample-data';

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
