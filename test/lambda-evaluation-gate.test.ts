import { decide, handler as gate } from '../lambda/evaluation-gate';
import type { GateConfig } from '../lib/pipelines/common';

/** The evaluate job's `metrics` (jobs/evaluate.py): the model's metrics, its baselines and its lift. */
const metrics = (model: Record<string, number | null>, popularity: Record<string, number | null> | null = { ndcgAtK: 0.2, precisionAtK: 0.1 }) => ({
  rmse: 0.9,
  mae: 0.7,
  precisionAtK: 0.2,
  recallAtK: 0.3,
  ndcgAtK: 0.4,
  map: 0.25,
  mapAtK: 0.2,
  k: 10,
  threshold: 4,
  ...model,
  baselines: { globalMean: { rmse: 1.1, mae: 0.9 }, bias: { rmse: 0.95, mae: 0.75 }, popularity },
});
const NDCG: GateConfig = { objective: 'ndcgAtK', margin: 0.01, minPopularityLift: 1.1 };

describe('evaluation-gate decide()', () => {
  test('refuses a candidate that loses to popularity, naming both numbers', () => {
    const d = decide(metrics({ ndcgAtK: 0.15 }, { ndcgAtK: 0.2 }), null, NDCG);
    expect(d).toMatchObject({ promote: false, objective: 'ndcgAtK', candidate: 0.15, current: null, popularityMetric: 'ndcgAtK', popularity: 0.2, minPopularityLift: 1.1 });
    expect(d.popularityLift).toBeCloseTo(0.75);
    expect(d.reason).toContain('candidate ndcgAtK 0.15 < 1.1 × popularity 0.2 = 0.22 (lift 0.75×)');
    expect(d.reason).toMatch(/^not promoted: /);
  });

  test('refuses a candidate beating popularity but not the lift (1.05× < 1.1×)', () => {
    const d = decide(metrics({ ndcgAtK: 0.21 }, { ndcgAtK: 0.2 }), null, NDCG);
    expect(d.promote).toBe(false);
    expect(d.reason).toContain('0.21 < 1.1 × popularity 0.2 = 0.22');
  });

  test('promotes the first model that beats popularity by ≥ 1.1× (exactly 1.1× included)', () => {
    expect(decide(metrics({ ndcgAtK: 0.22 }, { ndcgAtK: 0.2 }), null, NDCG)).toMatchObject({ promote: true, candidate: 0.22, current: null, popularity: 0.2 });
    const d = decide(metrics({ ndcgAtK: 0.4 }, { ndcgAtK: 0.2 }), null, NDCG);
    expect(d).toMatchObject({ promote: true, popularityLift: 2 });
    expect(d.reason).toBe('promoted: candidate ndcgAtK 0.4, no current model to compare with; candidate ndcgAtK 0.4 ≥ 1.1 × popularity 0.2 = 0.22 (lift 2×)');
  });

  test('refuses a candidate worse than the current model beyond the margin (ranking: higher is better)', () => {
    const d = decide(metrics({ ndcgAtK: 0.38 }), metrics({ ndcgAtK: 0.4 }), NDCG);
    expect(d).toMatchObject({ promote: false, candidate: 0.38, current: 0.4, margin: 0.01 });
    expect(d.reason).toBe(
      'not promoted, keeping the current model: candidate ndcgAtK 0.38 < current 0.4 − margin 0.01 = 0.39 (worse than the current model beyond the margin); ' +
        'candidate ndcgAtK 0.38 ≥ 1.1 × popularity 0.2 = 0.22 (lift 1.9×)',
    );
    // within the margin: promoted
    expect(decide(metrics({ ndcgAtK: 0.395 }), metrics({ ndcgAtK: 0.4 }), NDCG).promote).toBe(true);
    expect(decide(metrics({ ndcgAtK: 0.39 }), metrics({ ndcgAtK: 0.4 }), NDCG).promote).toBe(true);
  });

  test('error objectives: candidate ≤ current + margin; the popularity check uses ndcgAtK', () => {
    const RMSE: GateConfig = { objective: 'rmse', margin: 0.02, minPopularityLift: 1.1 };
    expect(decide(metrics({ rmse: 0.92 }), metrics({ rmse: 0.9 }), RMSE)).toMatchObject({ promote: true, candidate: 0.92, current: 0.9, popularityMetric: 'ndcgAtK', popularity: 0.2, popularityLift: 2 });
    const worse = decide(metrics({ rmse: 0.93 }), metrics({ rmse: 0.9 }), RMSE);
    expect(worse.promote).toBe(false);
    expect(worse.reason).toContain('candidate rmse 0.93 > current 0.9 + margin 0.02 = 0.92');
    // better RMSE than the current model, but its ranking loses to popularity
    const d = decide(metrics({ rmse: 0.8, ndcgAtK: 0.1 }, { ndcgAtK: 0.2 }), metrics({ rmse: 0.9 }), RMSE);
    expect(d).toMatchObject({ promote: false, objective: 'rmse', candidate: 0.8, popularityMetric: 'ndcgAtK', popularity: 0.2, popularityLift: 0.5 });
    expect(d.reason).toContain('candidate rmse 0.8 ≤ current 0.9 + margin 0.02 = 0.92');
    expect(d.reason).toContain('candidate ndcgAtK 0.1 < 1.1 × popularity 0.2 = 0.22');
  });

  test('a ranking objective other than ndcgAtK is its own popularity metric', () => {
    const P: GateConfig = { objective: 'precisionAtK', margin: 0.01, minPopularityLift: 1.1 };
    const d = decide(metrics({ precisionAtK: 0.105, ndcgAtK: 0.9 }, { ndcgAtK: 0.2, precisionAtK: 0.1 }), null, P);
    expect(d).toMatchObject({ promote: false, popularityMetric: 'precisionAtK', popularity: 0.1 });
    expect(d.reason).toContain('candidate precisionAtK 0.105 < 1.1 × popularity 0.1 = 0.11');
  });

  test('minPopularityLift 0 disables the popularity check', () => {
    const off: GateConfig = { ...NDCG, minPopularityLift: 0 };
    expect(decide(metrics({ ndcgAtK: 0.1 }, { ndcgAtK: 0.2 }), null, off)).toMatchObject({ promote: true, popularity: 0.2, popularityLift: 0.5, minPopularityLift: 0 });
    const none = decide(metrics({ ndcgAtK: 0.1 }, null), null, off);
    expect(none).toMatchObject({ promote: true, popularity: null, popularityLift: null });
    expect(none.reason).toContain('popularity check disabled (minPopularityLift 0)');
  });

  test('no popularity baseline with a lift > 0 refuses with a clear reason', () => {
    const d = decide(metrics({ ndcgAtK: 0.4 }, null), null, NDCG);
    expect(d).toMatchObject({ promote: false, popularity: null, popularityLift: null });
    expect(d.reason).toContain('no popularity baseline in the evaluation (metrics.baselines.popularity is null), so minPopularityLift 1.1 cannot be checked');
  });

  test('a candidate without a value for the objective is refused; a current model without one does not block', () => {
    expect(decide(metrics({ ndcgAtK: null }), null, NDCG)).toMatchObject({ promote: false, reason: expect.stringContaining('the candidate has no ndcgAtK value') });
    expect(decide(metrics({ ndcgAtK: 0.4 }), metrics({ ndcgAtK: null }), NDCG)).toMatchObject({
      promote: true,
      current: null,
      reason: expect.stringContaining('the current model has no ndcgAtK value to compare with'),
    });
  });
});

describe('evaluation-gate handler', () => {
  const evaluation = (m: unknown, current: unknown = null) => ({ job: 'evaluate', status: 'SUCCEEDED', metrics: m, currentModelMetrics: current });

  test('decides on the evaluate result and the plan gate', async () => {
    await expect(gate({ evaluation: evaluation(metrics({ ndcgAtK: 0.41 }), metrics({ ndcgAtK: 0.4 })), gate: NDCG })).resolves.toMatchObject({
      promote: true,
      candidate: 0.41,
      current: 0.4,
      popularity: 0.2,
    });
    await expect(gate({ evaluation: evaluation(metrics({ ndcgAtK: 0.15 })), gate: NDCG })).resolves.toMatchObject({ promote: false });
  });

  test.each([
    [{ evaluation: evaluation({ rmse: 0.9 }), gate: NDCG }, /event\.evaluation\.metrics\.ndcgAtK: required: the gate's objective/],
    [{ evaluation: evaluation({ ndcgAtK: 0.4 }), gate: NDCG }, /event\.evaluation\.metrics\.baselines: required while gate\.minPopularityLift > 0/],
    [{ evaluation: evaluation({ ndcgAtK: 0.4, baselines: {} }), gate: NDCG }, /event\.evaluation\.metrics\.baselines\.popularity: required/],
    [{ evaluation: evaluation({ rmse: 0.9, baselines: { popularity: { ndcgAtK: 0.2 } } }), gate: { ...NDCG, objective: 'rmse' } }, /event\.evaluation\.metrics\.ndcgAtK: required while/],
    [{ evaluation: evaluation(metrics({}), { rmse: 0.9 }), gate: NDCG }, /event\.evaluation\.currentModelMetrics\.ndcgAtK/],
    [{ evaluation: evaluation(metrics({ ndcgAtK: 'high' as any })), gate: NDCG }, /event\.evaluation\.metrics\.ndcgAtK/],
    [{ evaluation: evaluation(metrics({})), gate: { ...NDCG, objective: 'auc' } }, /event\.gate\.objective/],
    [{ evaluation: evaluation(metrics({})), gate: { objective: 'ndcgAtK', margin: 0.01 } }, /event\.gate\.minPopularityLift/],
    [{ evaluation: evaluation(metrics({})), gate: { ...NDCG, margin: -1 } }, /event\.gate\.margin/],
    [{ evaluation: evaluation(metrics({})), rmseMargin: 0.02 }, /event\.gate/],
    [{ evaluation: { status: 'FAILED', metrics: metrics({}) }, gate: NDCG }, /event\.evaluation\.status/],
  ])('bad input is a ValidationError naming the field (%#)', async (event, message) => {
    const error: any = await gate(event).catch((e: unknown) => e);
    expect(error.name).toBe('ValidationError');
    expect(error.message).toMatch(message);
  });

  test('without the popularity check the baselines are not needed', async () => {
    await expect(gate({ evaluation: evaluation({ ndcgAtK: 0.4 }), gate: { ...NDCG, minPopularityLift: 0 } })).resolves.toMatchObject({ promote: true });
  });
});
