import * as z from 'zod';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import {
  type ExecutionContext,
  type JobStep,
  type PlanEnvironment,
  type PlanHeader,
  jobStep,
  lakeUri,
  modelsUri,
  parseOrThrow,
  planHeader,
  s3Uri,
  ValidationError,
} from './common';
import { embeddingPrecisionSchema } from '../jobs/catalog';
import type { PipelineKit } from './kit';

/**
 * news-enrichment: check-articles (Lambda) → Choice pending == 0 → succeed "nothing to do", else run the
 * ml_processing job. Database mode (a database is configured): articles are read from and written back to
 * PostgreSQL; lake mode: from the Delta table `bronze/news/articles/` to `gold/news/articles/`, the job recording
 * what it consumed (source, source version, retryable failures) in its sink commit's `commitInfo.userMetadata`
 * (the job role writes gold, never the source), which check-articles reads from the sink's `_delta_log/`.
 */
export const name = 'news-enrichment' as const;

export const inputSchema = z
  .object({
    /** Lake-mode source dataset (default `bronze/news/articles/`); ignored in database mode. */
    source: s3Uri.optional(),
    /** Lake-mode sink dataset (default `gold/news/articles/`); ignored in database mode. */
    sink: s3Uri.optional(),
    maxAttempts: z.number().int().min(1).max(10).optional(),
    batchSize: z.number().int().min(1).max(100000).optional(),
    /** Embedding model precision (default: the stage's `news.embeddingPrecision`, int8); fp32 = the reference graph. */
    embeddingPrecision: embeddingPrecisionSchema.optional(),
  })
  .strict();

export type NewsEnrichmentInput = z.input<typeof inputSchema>;

export interface NewsEnrichmentPlan extends PlanHeader {
  readonly mode: 'database' | 'lake';
  /** Payload of check-articles: `{}` in database mode, `{ source, sink }` in lake mode (state: the sink's commits). */
  readonly checkArticles: { readonly source?: string; readonly sink?: string };
  readonly steps: { readonly mlProcessing: JobStep };
}

export function plan(rawInput: unknown, env: PlanEnvironment, execution: ExecutionContext): NewsEnrichmentPlan {
  const input = parseOrThrow(inputSchema, rawInput ?? {}, 'input');
  const d = env.defaults.news;
  const database = env.databaseMode !== 'none';
  const source = database ? 'postgres' : (input.source ?? lakeUri(env, 'bronze/news/articles/'));
  const sink = database ? 'postgres' : (input.sink ?? lakeUri(env, 'gold/news/articles/'));
  if (!database) {
    // The prefixes the deployed roles cover: the job reads bronze/ and writes gold/ (data + `_delta_log/`),
    // check-articles reads the `_delta_log/` of tables under bronze/news/ and gold/news/ — a table elsewhere would
    // fail later with AccessDenied.
    for (const [field, uri, prefix] of [['source', source, 'bronze/news/'], ['sink', sink, 'gold/news/']] as const) {
      if (!uri.startsWith(lakeUri(env, prefix)) || uri.length === lakeUri(env, prefix).length) {
        throw new ValidationError(`Invalid input: input.${field}: lake mode reads and writes news datasets under ${lakeUri(env, prefix)}<name>/, got ${uri}`);
      }
    }
  }
  return {
    ...planHeader(name, env, execution),
    mode: database ? 'database' : 'lake',
    checkArticles: database ? {} : { source, sink },
    steps: {
      mlProcessing: jobStep(env, execution, 'ml_processing', 'mlProcessing', {
        source,
        sink,
        maxAttempts: input.maxAttempts ?? d.maxAttempts,
        batchSize: input.batchSize ?? d.batchSize,
        embeddingPrecision: input.embeddingPrecision ?? d.embeddingPrecision,
        topicPointer: modelsUri(env, 'topic/current.json'),
      }),
    },
  };
}

export function definition(kit: PipelineKit): sfn.IChainable {
  const { sfn } = kit;
  const scope = kit.pipelineScope();
  // `{}` in database mode, `{ source, sink }` in lake mode: the plan holds the exact payload.
  const check = kit.lambdaStep('Check articles', 'checkArticles', '$.plan.checkArticles', '$.check', {
    comment: 'Counts articles still missing topic, sentiment or embedding.',
  });
  const nothingToDo = new sfn.Succeed(scope, 'Nothing to do', { comment: 'No article needs processing.' });
  const process = kit.sparkStep('mlProcessing', { require: ['counts'] }).next(new sfn.Succeed(scope, 'Articles enriched'));
  const decide = new sfn.Choice(scope, 'Any pending articles?')
    .when(sfn.Condition.numberEquals('$.check.pending', 0), nothingToDo)
    .otherwise(process);
  return kit.validateInput().next(check).next(decide);
}
