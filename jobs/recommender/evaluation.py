"""Model evaluation with Spark's evaluators: rating error (RMSE, MAE) and top-K ranking metrics.

Ranking protocol: for every test user the model knows who has at least one relevant test item (rating ≥
threshold), the model's top-K items among those the user did *not* rate in training, ordered by predicted score
(the order ``recommendForUserSubset`` returns, kept by ``filter``/``slice``), against the set of relevant test
items (binary relevance). Metrics come from ``RankingEvaluator``: precisionAtK, recallAtK, ndcgAtK,
meanAveragePrecision (``map``) and meanAveragePrecisionAtK (``mapAtK``).

Every evaluation carries the baselines of :mod:`jobs.recommender.baselines` on the same rows and users (global mean
and user/item bias for RMSE/MAE, most-popular-unseen for the ranking metrics) and the model's ``lift`` over each.
"""
from __future__ import annotations

from pyspark.ml.evaluation import RankingEvaluator, RegressionEvaluator
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.recommender import baselines as base

USER, ITEM, RATING = "customer_id", "movie_id", "rating"


def predictions(model: ALSModel, test: DataFrame) -> DataFrame:
    """The test rows the model scores (cold-start rows without a prediction are left out)."""
    return model.transform(test.select(USER, ITEM, F.col(RATING).cast("double"))).where(~F.isnan("prediction"))


def regression_metrics(predicted: DataFrame) -> dict[str, float | int]:
    rows = predicted.count()
    if rows == 0:
        return {"rmse": None, "mae": None, "predicted": 0}
    evaluator = RegressionEvaluator(labelCol=RATING, predictionCol="prediction")
    return {"rmse": evaluator.setMetricName("rmse").evaluate(predicted),
            "mae": evaluator.setMetricName("mae").evaluate(predicted),
            "predicted": rows}


def ranking_input(model: ALSModel, train: DataFrame, test: DataFrame, k: int, threshold: float) -> DataFrame:
    """Per evaluated user: ``prediction`` (top-K unseen items, best first) and ``label`` (relevant items)."""
    relevant = (test.where(F.col(RATING) >= threshold).groupBy(USER)
                .agg(F.array_sort(F.collect_set(F.col(ITEM).cast("double"))).alias("label")))
    known_users = model.userFactors.select(F.col("id").alias(USER))
    users = relevant.select(USER).join(known_users, USER, "inner")
    seen = train.groupBy(USER).agg(F.collect_set(F.col(ITEM)).alias("seen"))
    most_seen = (users.join(seen, USER, "left").agg(F.max(F.size("seen")).alias("m")).first()["m"]) or 0
    n_items = model.itemFactors.count()
    candidates = min(n_items, k + max(int(most_seen), 0))
    recs = model.recommendForUserSubset(users, max(candidates, 1)).join(seen, USER, "left")
    unseen = F.filter("recommendations", lambda r: ~F.coalesce(F.array_contains("seen", r[ITEM]), F.lit(False)))
    predicted = recs.select(USER, F.slice(F.transform(unseen, lambda r: r[ITEM].cast("double")), 1, k)
                            .alias("prediction"))
    return predicted.join(relevant, USER, "inner")


def ranking_metrics(data: DataFrame, k: int) -> dict:
    users = data.count()
    if users == 0:
        return {"precisionAtK": None, "recallAtK": None, "ndcgAtK": None, "map": None, "mapAtK": None,
                "rankedUsers": 0}
    out = base.ranking_metrics_of(data, k)
    out["rankedUsers"] = users
    return out


def evaluate(model: ALSModel, train: DataFrame, test: DataFrame, k: int, threshold: float,
             baselines: dict | None = None, rating_model: ALSModel | None = None) -> dict:
    """The model's metrics, its baselines (computed on the same rows and users unless given) and its lift. The
    ranking metrics come from ``model``, RMSE/MAE from ``rating_model`` (default: ``model``)."""
    predicted = predictions(rating_model or model, test).cache()
    ranked = ranking_input(model, train, test, k, threshold).cache()
    try:
        metrics = regression_metrics(predicted)
        metrics.update(ranking_metrics(ranked, k))
        if baselines is None:
            baselines = {**base.regression_baselines(train, predicted),
                         "popularity": base.popularity_baseline(train, ranked.select(USER, "label"), k)}
    finally:
        predicted.unpersist()
        ranked.unpersist()
    metrics.update({"k": k, "threshold": threshold, "baselines": baselines, "lift": base.lift(metrics, baselines)})
    return metrics
