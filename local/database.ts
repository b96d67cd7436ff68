import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';

/**
 * Database mode of the local runner: a PostgreSQL given by a connection URL stands in for the stage's database.
 * The app is synthesized with a stage whose `database` is `existing` (so the handlers get `DB_SECRET_ARN` and
 * the job requests `--db-secret-arn`, exactly as deployed); the secret's value — host, port, username,
 * password, dbname, built from the URL — is served by the local Secrets Manager adapter, and the EMR adapter
 * hands it to the job in an environment variable (never on the command line).
 */
export const LOCAL_DB_SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:local-news-database-Lc4lDb';
export const LOCAL_DB_STAGE = 'localdb';

export interface DatabaseConnection {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  readonly password: string;
  readonly dbname: string;
  /** The URL's `?sslmode=` (disable | require | verify-full); the secret says `disable` when the URL does not. */
  readonly sslmode?: 'disable' | 'require' | 'verify-full';
}

export function parseDatabaseUrl(url: string): DatabaseConnection {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error('DATABASE_URL: not a URL (expected postgresql://user:password@host:port/database)');
  }
  if (!/^postgres(ql)?:$/.test(parsed.protocol)) throw new Error('DATABASE_URL: must start with postgresql://');
  const dbname = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!parsed.hostname || !parsed.username || !dbname) throw new Error('DATABASE_URL: needs a user, a host and a database name');
  const sslmode = parsed.searchParams.get('sslmode') ?? undefined;
  if (sslmode !== undefined && !['disable', 'require', 'verify-full'].includes(sslmode)) {
    throw new Error('DATABASE_URL: sslmode must be disable, require or verify-full');
  }
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 5432),
    username: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    dbname,
    ...(sslmode ? { sslmode: sslmode as DatabaseConnection['sslmode'] } : {}),
  };
}

/** CDK context that synthesizes the app with the database configured (placeholder network ids: nothing is deployed). */
export function databaseStageContext(projectRoot: string, connection: DatabaseConnection): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(path.join(projectRoot, 'cdk.json'), 'utf8')) as { context?: { stages?: Record<string, unknown> } };
  return {
    stage: LOCAL_DB_STAGE,
    stages: {
      ...(cdkJson.context?.stages ?? {}),
      [LOCAL_DB_STAGE]: {
        database: {
          mode: 'existing',
          secretArn: LOCAL_DB_SECRET_ARN,
          vpcId: 'vpc-0000000000000000a',
          subnetIds: ['subnet-0000000000000000a'],
          securityGroupId: 'sg-0000000000000000a',
          availabilityZones: ['us-east-1a'],
          databaseName: connection.dbname,
        },
      },
    },
  };
}

export function databaseSecret(connection: DatabaseConnection): Record<string, string> {
  // check-articles connects with verified TLS unless the secret says otherwise; a local PostgreSQL usually has none
  return { [LOCAL_DB_SECRET_ARN]: JSON.stringify({ ...connection, sslmode: connection.sslmode ?? 'disable' }) };
}

/**
 * Applies the migrations (`db/migrations/*.sql`, idempotent) and loads the sample articles; the enrichment of
 * those sample rows is reset so a demo run has work to do. Other rows are not touched.
 */
export async function seedDatabase(projectRoot: string, connection: DatabaseConnection, articlesFile: string): Promise<number> {
  const client = new Client({ host: connection.host, port: connection.port, user: connection.username, password: connection.password, database: connection.dbname });
  await client.connect();
  try {
    const migrations = path.join(projectRoot, 'db', 'migrations');
    for (const file of require('node:fs').readdirSync(migrations).filter((f: string) => f.endsWith('.sql')).sort()) {
      await client.query(readFileSync(path.join(migrations, file), 'utf8'));
    }
    const rows = readFileSync(articlesFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    await client.query('BEGIN');
    for (const a of rows) {
      await client.query(
        `INSERT INTO articles (id, title, content, source, url, published_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE SET title = EXCLUDED.title, content = EXCLUDED.content, source = EXCLUDED.source,
           url = EXCLUDED.url, published_at = EXCLUDED.published_at, topic = NULL, topic_score = NULL, sentiment = NULL,
           sentiment_score = NULL, embedding = NULL, ml_model_version = NULL, ml_processed_at = NULL, ml_attempts = 0, ml_error = NULL`,
        [a.id, a.title, a.content, a.source, a.url, a.published_at],
      );
    }
    await client.query('COMMIT');
    return rows.length;
  } finally {
    await client.end();
  }
}
