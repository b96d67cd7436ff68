import { modelQualityLines, modelQualityOf } from '../cli/model-quality';

const search = (objective: string, largerIsBetter: boolean, scores: Array<[Record<string, unknown>, number]>) => ({
  objective,
  split: 'random',
  largerIsBetter,
  candidates: scores.length,
  best: { params: scores[0][0], score: scores[0][1] },
  scores: scores.map(([params, score]) => ({ params, score })),
});

// the shape of a recommender-training execution's output: the train result under results.model.train
const output = {
  results: {
    model: {
      train: {
        tuning: {
          ranking: search('ndcgAtK', true, [[{ implicitPrefs: true, regParam: 1 }, 0.1616], [{ implicitPrefs: false, regParam: 0.1 }, 0.1102]]),
          rating: search('rmse', false, [[{ implicitPrefs: false, regParam: 0.1 }, 0.9282], [{ implicitPrefs: false, regParam: 1 }, 1.0411]]),
        },
      },
    },
    evaluate: {
      metrics: {
        rmse: 0.89, mae: 0.71, ndcgAtK: 0.2097, precisionAtK: 0.1232,
        baselines: { bias: { rmse: 0.9595, mae: 0.7734 }, globalMean: { rmse: 1.19 }, popularity: { ndcgAtK: 0.1354, precisionAtK: 0.0699 } },
        lift: { rmseVsBias: 1.078, maeVsBias: 1.084, ndcgAtKVsPopularity: 1.549, precisionAtKVsPopularity: 1.763 },
      },
      currentModelMetrics: null,
    },
  },
  gate: { promote: true, reason: 'ndcgAtK 0.2097 ≥ 1.1 × popularity 0.1354' },
};

describe('model quality of a recommender execution', () => {
  test('every candidate of both searches, metrics beside their baselines with the lift, the gate', () => {
    const quality = modelQualityOf(output)!;
    expect(quality.searches.map((s) => [s.role, s.objective, s.candidates.length])).toEqual([['ranking', 'ndcgAtK', 2], ['rating', 'rmse', 2]]);
    expect(quality.metrics.find((r) => r.metric === 'ndcgAtK')).toEqual({
      metric: 'ndcgAtK', model: 0.2097, baseline: 'most popular unseen', baselineValue: 0.1354, lift: 1.549, current: null,
    });
    expect(quality.metrics.find((r) => r.metric === 'rmse')).toMatchObject({ baseline: 'user/item bias', baselineValue: 0.9595, lift: 1.078 });
    const text = modelQualityLines(quality).join('\n');
    expect(text).toContain('Search of the ranking model (ndcgAtK, random validation split, 2 candidates): best implicitPrefs=true regParam=1 → 0.1616');
    // candidates best first: lower is better for rmse
    expect(text.indexOf('0.9282')).toBeLessThan(text.indexOf('1.0411'));
    expect(text).toMatch(/ndcgAtK\s+0\.2097\s+0\.1354 most popular unseen\s+1\.55×/);
    expect(text).toContain('Gate: promoted — ndcgAtK 0.2097');
  });

  test('one search serving both roles is shown once; other pipelines show nothing', () => {
    const one = search('rmse', false, [[{ regParam: 0.05 }, 0.91]]);
    const quality = modelQualityOf({ results: { train: { tuning: { ranking: one, rating: one } } } })!;
    expect(quality.searches.map((s) => s.role)).toEqual(['ranking']);
    expect(modelQualityOf({ results: { mlProcessing: { counts: { enriched: 3 } } } })).toBeUndefined();
    expect(modelQualityOf(undefined)).toBeUndefined();
  });
});
