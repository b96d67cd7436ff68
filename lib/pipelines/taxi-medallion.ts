import * as z from 'zod';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import {
  type ExecutionContext,
  type JobStep,
  type PlanEnvironment,
  type PlanHeader,
  ValidationError,
  jobStep,
  lakeUri,
  parseOrThrow,
  planHeader,
} from './common';
import type { PipelineKit } from './kit';

/**
 * taxi-medallion: ingest month(s) to bronze (a Map state: the ingest Lambda once per month, skipping months whose
 * bronze object is already complete) → taxi_preprocess (bronze → silver) → taxi_features (silver → gold).
 */
export const name = 'taxi-medallion' as const;

const month = z
  .string()
  .regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be a month YYYY-MM');

export const inputSchema = z
  .object({
    /**
     * Months to process (default: the newest month the source publishes — the execution's UTC start month minus
     * stage `taxi.publishLagMonths`, default 2).
     */
    months: z.array(month).min(1).max(120).optional(),
    /** Download URL template with `{month}` (default: stage `taxi.sourceUrlTemplate`); https only. */
    sourceUrlTemplate: z
      .string()
      .regex(/^https:\/\/.*\{month\}.*$/, 'must be an https URL containing {month}')
      .optional(),
    /** Skip the download (the bronze objects are already there). */
    skipIngest: z.boolean().optional(),
  })
  .strict();

export type TaxiMedallionInput = z.input<typeof inputSchema>;

export interface TaxiMedallionPlan extends PlanHeader {
  readonly months: string[];
  /** Payload of ingest-taxi-month. */
  readonly ingest: { readonly months: string[]; readonly sourceUrlTemplate: string };
  readonly skipIngest: boolean;
  readonly steps: { readonly taxiPreprocess: JobStep; readonly taxiFeatures: JobStep };
}

/** Parallel ingest invocations of the Map state (each downloads one month; the source and the Lambda's bandwidth are the limit). */
export const INGEST_MAX_CONCURRENCY = 2;

/**
 * The newest month the source has published at `iso`: the UTC calendar month of `iso` minus `lagMonths`, as
 * YYYY-MM (2026-12-01 with lag 2 → 2026-10; lag 0 → 2026-12; 2026-01-31 with lag 2 → 2025-11).
 */
export function newestPublishedMonth(iso: string, lagMonths: number): string {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) throw new ValidationError(`Invalid execution.startTime: "${iso}" is not a timestamp`);
  const d = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() - lagMonths, 1));
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

export function plan(rawInput: unknown, env: PlanEnvironment, execution: ExecutionContext): TaxiMedallionPlan {
  const input = parseOrThrow(inputSchema, rawInput ?? {}, 'input');
  let months = input.months;
  if (!months) {
    if (!execution.startTime) throw new ValidationError('Invalid input.months: required when execution.startTime is unknown');
    months = [newestPublishedMonth(execution.startTime, env.defaults.taxi.publishLagMonths)];
  }
  months = [...new Set(months)].sort();
  const bronze = lakeUri(env, 'bronze/taxi/yellow/');
  const silver = lakeUri(env, 'silver/taxi/trips/');
  return {
    ...planHeader(name, env, execution),
    months,
    ingest: { months, sourceUrlTemplate: input.sourceUrlTemplate ?? env.defaults.taxi.sourceUrlTemplate },
    skipIngest: input.skipIngest ?? false,
    steps: {
      taxiPreprocess: jobStep(env, execution, 'taxi_preprocess', 'taxiPreprocess', {
        bronze,
        silver,
        rejects: lakeUri(env, 'silver/taxi/rejects/'),
        months,
      }),
      taxiFeatures: jobStep(env, execution, 'taxi_features', 'taxiFeatures', {
        silver,
        gold: lakeUri(env, 'gold/taxi/features/'),
        months,
      }),
    },
  };
}

export function definition(kit: PipelineKit): sfn.IChainable {
  const { sfn } = kit;
  const scope = kit.pipelineScope();
  // One invocation per month, each with the Lambda's own 15 minutes and its own retries; a failed month fails
  // the Map (→ the failure path) after the months already running end. A re-run skips the complete months.
  const monthFailed = new sfn.Fail(scope, 'Ingest month failed', {
    comment: 'Fails the month\'s iteration with the ingest error; the Map catches it.',
    errorPath: '$.error.Error',
    causePath: '$.error.Cause',
  });
  // The iteration's input is {months: [month], sourceUrlTemplate}; the Lambda's answer goes to `$.ingested`.
  const ingestMonth = kit.lambdaStep('Ingest taxi month', 'ingestTaxiMonth', '$', '$.ingested', {
    comment: 'Downloads one monthly TLC file into bronze; skips it when the bronze object is complete (its size = the source\'s).',
    timeout: kit.ingestTimeout,
    catchTo: monthFailed,
  });
  // Network failures, throttling and 5xx of the source or S3 (the handler names them IngestTransientError): two
  // more attempts, after the ASL default interval (1 s) × 5 (≤ 1 s, ≤ 5 s with full jitter). (An explicit
  // interval needs a Duration, a runtime import of aws-cdk-lib this file must not have.)
  ingestMonth.addRetry({ errors: ['IngestTransientError'], maxAttempts: 2, backoffRate: 5, jitterStrategy: sfn.JitterType.FULL });
  const ingest = new sfn.Map(scope, 'Ingest taxi months', {
    comment: 'Runs ingest-taxi-month once per month of the plan (at most 2 at a time).',
    itemsPath: '$.plan.ingest.months',
    maxConcurrency: INGEST_MAX_CONCURRENCY,
    itemSelector: {
      'months.$': 'States.Array($$.Map.Item.Value)',
      'sourceUrlTemplate.$': '$.plan.ingest.sourceUrlTemplate',
    },
    // Every iteration's Lambda answer is {objects: [its month], …}: flattened to {objects: [every month]}.
    resultSelector: { 'objects.$': '$[*].ingested.objects[*]' },
    resultPath: '$.ingest',
  });
  ingest.itemProcessor(ingestMonth);
  ingest.addCatch(kit.failurePath, { errors: ['States.ALL'], resultPath: '$.error' });
  const transform = kit
    .sparkStep('taxiPreprocess', { require: ['counts'] })
    .next(kit.sparkStep('taxiFeatures', { require: ['outputs'] }))
    .next(new sfn.Succeed(scope, 'Features written'));
  const maybeIngest = new sfn.Choice(scope, 'Ingest?')
    .when(sfn.Condition.booleanEquals('$.plan.skipIngest', true), transform)
    .otherwise(ingest.next(transform));
  return kit.validateInput().next(maybeIngest);
}
