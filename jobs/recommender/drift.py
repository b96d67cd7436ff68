"""Drift statistics and the retrain decision (pure functions; the Spark parts only aggregate to 5 numbers).

Data drift compares the rating histograms (ratings 1..5) of the baseline test set P and the new test set Q:

* KL divergence ``KL(Q ‖ P) = Σ q_r · ln(q_r / p_r)`` (natural log) with additive (Laplace) smoothing: every bin
  count gets ``+alpha`` (default 1) before normalising, so empty bins never give infinities. This equals
  ``scipy.stats.entropy(q_smoothed, p_smoothed)``.
* ``|Δmean|`` of the ratings and ``|Δmedian|`` — the exact median, computed from the histogram (ratings are
  integers: the mean of the two middle values when the count is even).

Model drift: the current model's RMSE and MAE on the baseline test vs the new test set.

Score (as the seed): ``w_kl·KL/t_kl + w_mean·|Δmean|/t_mean + w_median·|Δmedian|/t_median``; retrain when the score
exceeds ``score_threshold`` (1.0), or when the RMSE on the new data is more than ``rmse_increase`` (relative, 10%)
above the RMSE on the baseline.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

RATINGS = (1, 2, 3, 4, 5)
DEFAULT_SMOOTHING = 1.0


def histogram(df: DataFrame, column: str = "rating") -> list[int]:
    """Counts of ratings 1..5 (one small aggregation; other values are not counted)."""
    rows = df.where(F.col(column).isin(*RATINGS)).groupBy(column).count().collect()
    found = {int(r[column]): int(r["count"]) for r in rows}
    return [found.get(r, 0) for r in RATINGS]


def smoothed(counts: list[int], alpha: float = DEFAULT_SMOOTHING) -> list[float]:
    total = sum(counts) + alpha * len(counts)
    if total <= 0:
        raise ValueError("empty histogram")
    return [(c + alpha) / total for c in counts]


def kl_divergence(new_counts: list[int], base_counts: list[int], alpha: float = DEFAULT_SMOOTHING) -> float:
    q, p = smoothed(new_counts, alpha), smoothed(base_counts, alpha)
    return float(sum(qi * math.log(qi / pi) for qi, pi in zip(q, p) if qi > 0))


def mean(counts: list[int]) -> float:
    n = sum(counts)
    if n == 0:
        raise ValueError("empty histogram")
    return sum(r * c for r, c in zip(RATINGS, counts)) / n


def median(counts: list[int]) -> float:
    n = sum(counts)
    if n == 0:
        raise ValueError("empty histogram")

    def kth(k: int) -> int:  # 0-based k-th smallest rating
        seen = 0
        for rating, count in zip(RATINGS, counts):
            seen += count
            if k < seen:
                return rating
        raise AssertionError("unreachable")

    return float(kth(n // 2)) if n % 2 else (kth(n // 2 - 1) + kth(n // 2)) / 2


@dataclass
class Thresholds:
    kl: float = 0.1
    mean: float = 0.2
    median: float = 0.5
    weights: tuple[float, float, float] = (0.5, 0.3, 0.2)
    score: float = 1.0
    rmse_increase: float = 0.1
    smoothing: float = DEFAULT_SMOOTHING


@dataclass
class Decision:
    retrain: bool
    score: float
    reasons: list[str] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"retrain": self.retrain, "score": self.score, "reasons": self.reasons, "metrics": self.metrics}


def decide(base_counts: list[int], new_counts: list[int], model: dict | None, t: Thresholds) -> Decision:
    """``model``: ``{"baselineRmse", "newRmse", "baselineMae", "newMae"}`` of the current model, or None."""
    kl = kl_divergence(new_counts, base_counts, t.smoothing)
    d_mean = abs(mean(new_counts) - mean(base_counts))
    d_median = abs(median(new_counts) - median(base_counts))
    w_kl, w_mean, w_median = t.weights
    score = w_kl * kl / t.kl + w_mean * d_mean / t.mean + w_median * d_median / t.median
    reasons = []
    for name, value, limit in (("kl", kl, t.kl), ("meanShift", d_mean, t.mean), ("medianShift", d_median, t.median)):
        if value > limit:
            reasons.append(f"{name} {value:.4f} > {limit}")
    retrain = score > t.score
    if retrain:
        reasons.append(f"score {score:.4f} > {t.score}")
    metrics = {"kl": kl, "meanShift": d_mean, "medianShift": d_median,
               "baselineMean": mean(base_counts), "newMean": mean(new_counts),
               "baselineMedian": median(base_counts), "newMedian": median(new_counts),
               "baselineHistogram": list(base_counts), "newHistogram": list(new_counts), "smoothing": t.smoothing}
    if model is not None:
        metrics.update(model)
        base_rmse, new_rmse = model.get("baselineRmse"), model.get("newRmse")
        if base_rmse and new_rmse is not None:
            increase = (new_rmse - base_rmse) / base_rmse
            metrics["rmseIncrease"] = increase
            if increase > t.rmse_increase:
                retrain = True
                reasons.append(f"rmseIncrease {increase:.4f} > {t.rmse_increase}")
    return Decision(retrain=retrain, score=score, reasons=reasons, metrics=metrics)


def split_key(df: DataFrame, seed: int) -> F.Column:
    """Deterministic value in [0, 1) per (movie, customer) and seed — independent of partitioning and row order."""
    h = F.xxhash64(F.col("movie_id"), F.col("customer_id"), F.lit(seed))
    return F.pmod(h, F.lit(1_000_000)) / F.lit(1_000_000.0)
