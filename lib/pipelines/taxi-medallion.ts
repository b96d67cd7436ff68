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

/** taxi-medallion: ingest month(s) to bronze (Lambda) → taxi_preprocess (bronze → silver) → taxi_features (silver → gold). */
export const name = 'taxi-medallion' as const;

const month = z
  .string()
  .regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be a month YYYY-MM');

export const inputSchema = z
  .object({
    /** Months to process (default: the calendar month before the execution started). */
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

/** The calendar month before `iso` (UTC), as YYYY-MM. */
export function previousMonth(iso: string): string {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) throw new ValidationError(`Invalid execution.startTime: "${iso}" is not a timestamp`);
  const d = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth() - 1, 1));
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

export function plan(rawInput: unknown, env: PlanEnvironment, execution: ExecutionContext): TaxiMedallionPlan {
  const input = parseOrThrow(inputSchema, rawInput ?? {}, 'input');
  let months = input.months;
  if (!months) {
    if (!execution.startTime) throw new ValidationError('Invalid input.months: required when execution.startTime is unknown');
    months = [previousMonth(execution.startTime)];
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
  const ingest = kit.lambdaStep('Ingest taxi months', 'ingestTaxiMonth', '$.plan.ingest', '$.ingest', {
    comment: 'Downloads the monthly TLC files into bronze (skips objects already present).',
    timeout: kit.ingestTimeout,
  });
  const transform = kit
    .sparkStep('taxiPreprocess', { require: ['counts'] })
    .next(kit.sparkStep('taxiFeatures', { require: ['outputs'] }))
    .next(new sfn.Succeed(scope, 'Features written'));
  const maybeIngest = new sfn.Choice(scope, 'Ingest?')
    .when(sfn.Condition.booleanEquals('$.plan.skipIngest', true), transform)
    .otherwise(ingest.next(transform));
  return kit.validateInput().next(maybeIngest);
}
