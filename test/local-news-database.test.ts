/**
 * news-enrichment in database mode, run locally against a real PostgreSQL: the app synthesized with an
 * `existing` database, the check-articles Lambda reading the secret through the local Secrets Manager adapter
 * and counting with `pg`, the ml_processing job reading and writing the table over JDBC (secret passed in its
 * environment, not its arguments), then the "nothing to process" short-circuit.
 */
import * as path from 'node:path';
import { rmSync, writeFileSync, readFileSync } from 'node:fs';
import { LOCAL_DB_SECRET_ARN, seedDatabase, parseDatabaseUrl } from '../local/database';
import { failureMessage } from '../local/index';
import { LocalRuntime } from '../local/runtime';
import { PgServer, startPgServer } from './support/pg-server';

const projectRoot = path.resolve(__dirname, '..');
const root = path.join(projectRoot, '.local', 'test-news-database');

let pg: PgServer;
let runtime: LocalRuntime;
let url: string;

beforeAll(async () => {
  rmSync(root, { recursive: true, force: true });
  pg = await startPgServer();
  url = `postgresql://${pg.user}:${encodeURIComponent(pg.password)}@${pg.host}:${pg.port}/${pg.database}`;
  runtime = await LocalRuntime.create({ projectRoot, root, databaseUrl: url });
  const articles = path.join(projectRoot, '.local', 'test-news-database-articles.jsonl');
  writeFileSync(articles, readFileSync(path.join(projectRoot, 'data', 'sample', 'news', 'articles.jsonl'), 'utf8').split('\n').slice(0, 10).join('\n'));
  expect(await seedDatabase(projectRoot, parseDatabaseUrl(url), articles)).toBe(10);
}, 240_000);

afterAll(async () => {
  runtime?.close();
  await pg?.stop();
});

it('synthesizes the database stage: the handlers and the job requests get the secret ARN, not the secret', () => {
  const check = runtime.deployment.functions.find((f) => f.codeFile.endsWith(path.join('check-articles', 'index.ts')))!;
  expect(check.environment.DB_SECRET_ARN).toBe(LOCAL_DB_SECRET_ARN);
  expect(JSON.stringify(runtime.deployment.functions.map((f) => f.environment))).not.toContain(pg.password);
});

it('enriches the pending rows in PostgreSQL, then finds nothing to process', async () => {
  const first = await runtime.run('news-enrichment', {}, { executionName: 'news-db-1' });
  expect(failureMessage(first)).toBeUndefined();
  expect(first.steps.at(-1)?.name).toBe('Articles enriched');
  expect((first.output as any).check).toEqual({ pending: 10, mode: 'db' });
  expect((first.output as any).results.mlProcessing.counts.processed).toBe(10);
  const sparkLog = readFileSync(first.steps.find((s) => s.name === 'Run ml-processing')!.logFile!, 'utf8');
  const commandLine = sparkLog.split('\n').find((l) => l.includes('bin/spark-submit'))!;
  // the job fetches the secret itself (boto3 → Secrets Manager, as the job role), as on EMR Serverless
  expect(commandLine).toMatch(/--db-secret-arn arn:aws:secretsmanager:us-east-1:000000000000:secret:\S+$/);
  expect(sparkLog).not.toContain(pg.password);
  const jobRole = runtime.accessReport().principals.find((p) => /JobRole/.test(p.principalArn))!;
  expect(jobRole.used).toContainEqual(expect.objectContaining({ action: 'secretsmanager:GetSecretValue', allowed: 1, denied: 0 }));

  const client = await pg.client();
  try {
    const { rows } = await client.query('SELECT count(*)::int AS n FROM articles WHERE topic IS NOT NULL AND sentiment IS NOT NULL AND array_length(embedding, 1) = 384');
    expect(rows[0].n).toBe(10);
  } finally {
    await client.end();
  }

  const second = await runtime.run('news-enrichment', {}, { executionName: 'news-db-2' });
  expect(second.status).toBe('SUCCEEDED');
  expect(second.steps.map((s) => s.name)).toEqual(['Validate input', 'Check articles', 'Any pending articles?', 'Nothing to do']);
});
