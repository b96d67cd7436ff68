import * as z from 'zod';
import { createLogger, parseEvent } from '../shared/handler-kit';

/**
 * Evaluation gate: `{evaluation: <evaluate result>, rmseMargin}` → `{promote, reason, candidateRmse, currentRmse,
 * rmseMargin}`. Promote when there is no current model, or when the candidate's RMSE is no worse than the
 * current model's by more than `rmseMargin` (candidate <= current + margin).
 */
const logger = createLogger('evaluation-gate');

const finite = z.number().refine(Number.isFinite, 'must be a finite number');

const EventSchema = z.object({
  evaluation: z
    .object({
      status: z.literal('SUCCEEDED'),
      metrics: z.object({ rmse: finite }).passthrough(),
      currentModelMetrics: z.object({ rmse: finite }).passthrough().nullable().optional(),
    })
    .passthrough(),
  rmseMargin: z.number().min(0),
});

export interface GateDecision {
  readonly promote: boolean;
  readonly reason: string;
  readonly candidateRmse: number;
  readonly currentRmse: number | null;
  readonly rmseMargin: number;
}

/** The pure decision. */
export function decide(candidateRmse: number, currentRmse: number | null, rmseMargin: number): GateDecision {
  if (currentRmse === null) {
    return { promote: true, reason: 'no current model: the first model is promoted', candidateRmse, currentRmse, rmseMargin };
  }
  const limit = currentRmse + rmseMargin;
  const promote = candidateRmse <= limit;
  const reason = promote
    ? `candidate RMSE ${candidateRmse} <= current ${currentRmse} + margin ${rmseMargin}`
    : `candidate RMSE ${candidateRmse} > current ${currentRmse} + margin ${rmseMargin}: keeping the current model`;
  return { promote, reason, candidateRmse, currentRmse, rmseMargin };
}

export async function handler(event: unknown): Promise<GateDecision> {
  const { evaluation, rmseMargin } = parseEvent(EventSchema, event);
  const decision = decide(evaluation.metrics.rmse, evaluation.currentModelMetrics?.rmse ?? null, rmseMargin);
  logger.info('evaluation gate', { ...decision });
  return decision;
}
