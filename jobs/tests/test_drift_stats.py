import pytest
from scipy.stats import entropy

from jobs.recommender import drift

BASE = [50, 100, 300, 350, 200]
NEW = [10, 40, 150, 400, 400]


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_kl_equals_scipy_entropy_on_smoothed_bins(alpha):
    q = [c + alpha for c in NEW]
    p = [c + alpha for c in BASE]
    assert drift.kl_divergence(NEW, BASE, alpha) == pytest.approx(entropy(q, p), rel=1e-12)


def test_kl_handles_empty_bins_and_is_zero_for_equal_histograms():
    assert drift.kl_divergence([0, 0, 5, 0, 0], [1, 1, 1, 1, 1]) == pytest.approx(
        entropy([1, 1, 6, 1, 1], [2, 2, 2, 2, 2]))
    assert drift.kl_divergence(BASE, BASE) == 0.0


def test_mean_and_exact_median_from_histogram():
    assert drift.mean([1, 0, 0, 0, 1]) == 3.0
    assert drift.median([1, 0, 0, 0, 1]) == 3.0          # (1 + 5) / 2
    assert drift.median([0, 2, 1, 0, 0]) == 2.0          # 2, 2, 3
    assert drift.median([0, 1, 1, 0, 0]) == 2.5          # 2, 3
    assert drift.median(BASE) == 4.0


def test_decision_score_uses_seed_weights_and_thresholds():
    decision = drift.decide(BASE, NEW, None, drift.Thresholds())
    kl = drift.kl_divergence(NEW, BASE)
    d_mean = abs(drift.mean(NEW) - drift.mean(BASE))
    expected = 0.5 * kl / 0.1 + 0.3 * d_mean / 0.2 + 0.2 * 0.0 / 0.5
    assert decision.score == pytest.approx(expected)
    assert decision.retrain is (expected > 1.0)
    same = drift.decide(BASE, BASE, None, drift.Thresholds())
    assert same.retrain is False and same.score == 0.0 and same.reasons == []


def test_rmse_increase_triggers_retrain_without_data_drift():
    model = {"baselineRmse": 0.9, "newRmse": 1.2, "baselineMae": 0.7, "newMae": 0.95}
    decision = drift.decide(BASE, BASE, model, drift.Thresholds())
    assert decision.retrain is True and decision.reasons == ["rmseIncrease 0.3333 > 0.1"]
    assert decision.metrics["newMae"] == 0.95
