"""Baselines a recommender must beat, on the model's own split and protocol (:mod:`jobs.recommender.evaluation`).

- Rating prediction (RMSE, MAE on the rows the model predicted): the **global mean** of the training ratings, and
  the regularised **user/item bias** model ``mu + b_u + b_i`` with ``b_i = Σ(r − mu) / (λ + n_i)`` and
  ``b_u = Σ(r − mu − b_i) / (λ + n_u)`` (λ = :data:`BIAS_REG`), a user or item unseen in training contributing 0,
  predictions clipped to the training ratings' range.
- Ranking (Precision/Recall/NDCG/MAP@K for the users the model ranks): **most popular unseen** — per user the K items
  with the most training ratings (ties by item id) that the user did not rate in training.
"""
from __future__ import annotations

from pyspark.ml.evaluation import RankingEvaluator, RegressionEvaluator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

USER, ITEM, RATING = "customer_id", "movie_id", "rating"
#: Damping of the bias baseline (ratings a user or item needs before its mean counts fully).
BIAS_REG = 10.0
RANKING_METRICS = (("precisionAtK", "precisionAtK"), ("recallAtK", "recallAtK"), ("ndcgAtK", "ndcgAtK"),
                   ("map", "meanAveragePrecision"), ("mapAtK", "meanAveragePrecisionAtK"))


def bias_predictions(train: DataFrame, rows: DataFrame, reg: float = BIAS_REG) -> DataFrame:
    """``rows`` (USER, ITEM, …) with ``globalMean`` and ``bias`` prediction columns (pure transform)."""
    stats = train.agg(F.avg(RATING).alias("mu"), F.min(RATING).alias("lo"), F.max(RATING).alias("hi")).first()
    mu, lo, hi = float(stats["mu"]), float(stats["lo"]), float(stats["hi"])
    item_bias = train.groupBy(ITEM).agg((F.sum(F.col(RATING) - F.lit(mu)) / (F.count(F.lit(1)) + F.lit(reg))).alias("b_i"))
    user_bias = (train.join(item_bias, ITEM, "left")
                 .groupBy(USER)
                 .agg((F.sum(F.col(RATING) - F.lit(mu) - F.col("b_i")) / (F.count(F.lit(1)) + F.lit(reg))).alias("b_u")))
    raw = F.lit(mu) + F.coalesce(F.col("b_u"), F.lit(0.0)) + F.coalesce(F.col("b_i"), F.lit(0.0))
    return (rows.join(item_bias, ITEM, "left").join(user_bias, USER, "left")
            .withColumn("globalMean", F.lit(mu))
            .withColumn("bias", F.least(F.greatest(raw, F.lit(lo)), F.lit(hi)))
            .drop("b_i", "b_u"))


def regression_baselines(train: DataFrame, predicted: DataFrame) -> dict[str, dict[str, float] | None]:
    """RMSE and MAE of each rating baseline on ``predicted`` (the test rows the model scored)."""
    scored = bias_predictions(train, predicted.select(USER, ITEM, F.col(RATING).cast("double"))).cache()
    try:
        if scored.limit(1).count() == 0:
            return {"globalMean": None, "bias": None}
        out = {}
        for name in ("globalMean", "bias"):
            evaluator = RegressionEvaluator(labelCol=RATING, predictionCol=name)
            out[name] = {"rmse": evaluator.setMetricName("rmse").evaluate(scored),
                         "mae": evaluator.setMetricName("mae").evaluate(scored)}
        return out
    finally:
        scored.unpersist()


def popularity_ranking_input(train: DataFrame, users_labels: DataFrame, k: int) -> DataFrame:
    """Per user of ``users_labels`` (USER, label): ``prediction`` = the K most popular training items not seen."""
    seen = train.groupBy(USER).agg(F.collect_set(F.col(ITEM)).alias("seen"))
    with_seen = users_labels.join(seen, USER, "left")
    most_seen = with_seen.agg(F.max(F.coalesce(F.size("seen"), F.lit(0))).alias("m")).first()["m"] or 0
    popular = (train.groupBy(ITEM).agg(F.count(F.lit(1)).alias("n"))
               .orderBy(F.desc("n"), F.asc(ITEM)).limit(k + int(most_seen)).collect())
    ranked = F.array(*[F.lit(int(r[ITEM])) for r in popular]) if popular else F.array().cast("array<int>")
    unseen = F.filter(ranked, lambda item: ~F.coalesce(F.array_contains("seen", item), F.lit(False)))
    return with_seen.select(USER, F.slice(F.transform(unseen, lambda item: item.cast("double")), 1, k).alias("prediction"),
                            "label")


def ranking_metrics_of(data: DataFrame, k: int) -> dict[str, float]:
    evaluator = RankingEvaluator(predictionCol="prediction", labelCol="label", k=k)
    return {name: evaluator.setMetricName(metric).evaluate(data) for name, metric in RANKING_METRICS}


def popularity_baseline(train: DataFrame, users_labels: DataFrame, k: int) -> dict[str, float] | None:
    data = popularity_ranking_input(train, users_labels, k).cache()
    try:
        return ranking_metrics_of(data, k) if data.limit(1).count() else None
    finally:
        data.unpersist()


def lift(metrics: dict, baselines: dict) -> dict[str, float | None]:
    """The model's lift over each baseline: baseline error / model error, model ranking metric / baseline's (> 1 =
    the model is better)."""
    def ratio(numerator, denominator):
        return numerator / denominator if numerator is not None and denominator not in (None, 0) else None

    out: dict[str, float | None] = {}
    for name in ("globalMean", "bias"):
        base = baselines.get(name) or {}
        for metric in ("rmse", "mae"):
            out[f"{metric}Vs{name[0].upper()}{name[1:]}"] = ratio(base.get(metric), metrics.get(metric))
    popularity = baselines.get("popularity") or {}
    for metric, _ in RANKING_METRICS:
        out[f"{metric}VsPopularity"] = ratio(metrics.get(metric), popularity.get(metric))
    return out
