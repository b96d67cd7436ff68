import * as z from 'zod';
import { planEnvironmentSchema } from '../../lib/pipelines/common';
import { planFor } from '../../lib/pipelines';
import { createLogger, parseEvent, requireEnv } from '../shared/handler-kit';

/**
 * First state of every pipeline. Input `{pipeline, input, execution}` (CONTRACTS.md) → the pipeline's plan with
 * all defaults applied and every step's job args incl. `resultUri`. Invalid input → `ValidationError` whose
 * message names the field (e.g. `input.rank: Too small: expected number to be >=1`).
 *
 * Environment: `PLAN_ENVIRONMENT` = JSON `{stage, lakeBucket, modelsBucket, databaseMode, defaults}`.
 */
const logger = createLogger('validate-input');

const EventSchema = z.object({
  pipeline: z.string(),
  input: z.unknown().optional(),
  execution: z.unknown(),
});

let cachedEnvironment: z.output<typeof planEnvironmentSchema> | undefined;
function planEnvironment() {
  if (!cachedEnvironment) {
    const raw = requireEnv('PLAN_ENVIRONMENT');
    const parsed = planEnvironmentSchema.safeParse(JSON.parse(raw));
    if (!parsed.success) throw new Error(`Invalid PLAN_ENVIRONMENT: ${parsed.error.message}`);
    cachedEnvironment = parsed.data;
  }
  return cachedEnvironment;
}

export async function handler(event: unknown): Promise<unknown> {
  const { pipeline, input, execution } = parseEvent(EventSchema, event);
  try {
    const plan = planFor(pipeline, input ?? {}, planEnvironment(), execution);
    logger.info('plan ready', { pipeline, execution: (plan as { execution?: unknown }).execution });
    return plan;
  } catch (error) {
    logger.warn('execution input rejected', { pipeline, error: (error as Error).message });
    throw error;
  }
}

/** For tests: forget the cached environment. */
export function resetEnvironmentCache(): void {
  cachedEnvironment = undefined;
}
