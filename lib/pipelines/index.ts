import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type * as z from 'zod';
import { type ExecutionContext, type PipelineName, type PlanEnvironment, PIPELINE_NAMES, ValidationError, parseExecution } from './common';
import * as driftRetrain from './drift-retrain';
import type { PipelineKit } from './kit';
import * as newsEnrichment from './news-enrichment';
import * as recommenderTraining from './recommender-training';
import * as taxiMedallion from './taxi-medallion';

/** One pipeline, defined once: input schema, pure plan, state-machine definition. */
export interface PipelineModule {
  readonly name: PipelineName;
  readonly inputSchema: z.ZodType;
  plan(input: unknown, env: PlanEnvironment, execution: ExecutionContext): { readonly pipeline: PipelineName };
  definition(kit: PipelineKit): sfn.IChainable;
}

export const PIPELINES: Readonly<Record<PipelineName, PipelineModule>> = {
  'recommender-training': recommenderTraining,
  'drift-retrain': driftRetrain,
  'news-enrichment': newsEnrichment,
  'taxi-medallion': taxiMedallion,
};

/** Validate `pipeline`, `execution` and the execution input; return the pipeline's plan. */
export function planFor(pipeline: unknown, input: unknown, env: PlanEnvironment, execution: unknown) {
  if (typeof pipeline !== 'string' || !(PIPELINE_NAMES as readonly string[]).includes(pipeline)) {
    throw new ValidationError(`Invalid pipeline: "${String(pipeline)}" is not one of ${PIPELINE_NAMES.join(', ')}`);
  }
  return PIPELINES[pipeline as PipelineName].plan(input, env, parseExecution(execution));
}

export { PIPELINE_NAMES, ValidationError };
export type { ExecutionContext, PipelineName, PlanEnvironment };
