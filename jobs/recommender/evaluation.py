"""Model evaluation with Spark's evaluators: rating error (RMSE, MAE) and top-K ranking metrics.

Ranking protocol: for every test user the model knows who has at least one relevant test item (rating ≥
threshold), the model's top-K items among those the user did *not* rate in training, ordered by predicted score
(the order ``recommendForUserSubset`` returns, kept by ``filter``/``slice``), against the set of relevant test
items (binary relevance). Metrics come from ``RankingEvaluator``: precisionAtK, recallAtK, ndcgAtK,
meanAveragePrecision (``map``) and meanAveragePrecisionAtK (``mapAtK``).
"""
from __future__ import annotations

from pyspark.ml.evaluation import RankingEvaluator, RegressionEvaluator
from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

USER, ITEM, RATING = "customer_id", "movie_id", "rating"


def regression_metrics(model: ALSModel, test: DataFrame) -> dict[str, float | int]:
    predictions = model.transform(test.select(USER, ITEM, F.col(RATING).cast("double"))) \
        .where(~F.isnan("prediction"))
    rows = predictions.count()
    if rows == 0:
        return {"rmse": None, "mae": None, "predicted": 0}
    evaluator = RegressionEvaluator(labelCol=RATING, predictionCol="prediction")
    return {"rmse": evaluator.setMetricName("rmse").evaluate(predictions),
            "mae": evaluator.setMetricName("mae").evaluate(predictions),
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


def ranking_metrics(model: ALSModel, train: DataFrame, test: DataFrame, k: int, threshold: float) -> dict:
    data = ranking_input(model, train, test, k, threshold).cache()
    try:
        users = data.count()
        if users == 0:
            return {"precisionAtK": None, "recallAtK": None, "ndcgAtK": None, "map": None, "mapAtK": None,
                    "rankedUsers": 0}
        evaluator = RankingEvaluator(predictionCol="prediction", labelCol="label", k=k)
        out = {name: evaluator.setMetricName(metric).evaluate(data) for name, metric in (
            ("precisionAtK", "precisionAtK"), ("recallAtK", "recallAtK"), ("ndcgAtK", "ndcgAtK"),
            ("map", "meanAveragePrecision"), ("mapAtK", "meanAveragePrecisionAtK"))}
        out["rankedUsers"] = users
        return out
    finally:
        data.unpersist()


def evaluate(model: ALSModel, train: DataFrame, test: DataFrame, k: int, threshold: float) -> dict:
    metrics = regression_metrics(model, test)
    metrics.update(ranking_metrics(model, train, test, k, threshold))
    metrics.update({"k": k, "threshold": threshold})
    return metrics
