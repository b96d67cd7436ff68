"""Baselines on tiny DataFrames against brute-force references (real Spark)."""
import math

import pytest
from pyspark.sql import Row

from jobs.recommender import baselines

K = 2
TRAIN = [  # (user, item, rating): item 10 most popular, then 11, then 12; 13 rated once
    (1, 10, 5.0), (1, 11, 4.0),
    (2, 10, 4.0), (2, 12, 2.0),
    (3, 10, 3.0), (3, 11, 5.0), (3, 13, 1.0),
    (4, 11, 4.0), (4, 12, 3.0),
]
TEST = [(1, 12, 4.0), (2, 11, 5.0), (4, 10, 2.0), (5, 10, 4.0)]  # user 5 and nobody else unseen in train


def _df(spark, rows):
    return spark.createDataFrame([Row(customer_id=u, movie_id=i, rating=r) for u, i, r in rows])


def _bias_reference(reg):
    mu = sum(r for _, _, r in TRAIN) / len(TRAIN)
    items, users = {}, {}
    for _, i, r in TRAIN:
        items.setdefault(i, []).append(r - mu)
    b_i = {i: sum(d) / (reg + len(d)) for i, d in items.items()}
    for u, i, r in TRAIN:
        users.setdefault(u, []).append(r - mu - b_i[i])
    b_u = {u: sum(d) / (reg + len(d)) for u, d in users.items()}
    return mu, lambda u, i: min(max(mu + b_u.get(u, 0.0) + b_i.get(i, 0.0), 1.0), 5.0)


def test_rating_baselines_equal_the_brute_force_reference(spark):
    mu, bias = _bias_reference(baselines.BIAS_REG)
    got = baselines.regression_baselines(_df(spark, TRAIN), _df(spark, TEST))
    rmse = lambda pred: math.sqrt(sum((r - pred(u, i)) ** 2 for u, i, r in TEST) / len(TEST))  # noqa: E731
    mae = lambda pred: sum(abs(r - pred(u, i)) for u, i, r in TEST) / len(TEST)  # noqa: E731
    assert got["globalMean"]["rmse"] == pytest.approx(rmse(lambda u, i: mu), abs=1e-12)
    assert got["globalMean"]["mae"] == pytest.approx(mae(lambda u, i: mu), abs=1e-12)
    assert got["bias"]["rmse"] == pytest.approx(rmse(bias), abs=1e-12)
    assert got["bias"]["mae"] == pytest.approx(mae(bias), abs=1e-12)


def test_popularity_recommends_the_most_rated_items_the_user_has_not_rated(spark):
    labels = spark.createDataFrame([Row(customer_id=1, label=[12.0]), Row(customer_id=2, label=[11.0]),
                                    Row(customer_id=4, label=[13.0]), Row(customer_id=5, label=[10.0])])
    rows = {r.customer_id: r.prediction for r in
            baselines.popularity_ranking_input(_df(spark, TRAIN), labels, K).collect()}
    # popularity: 10 (3 ratings), 11 (3), 12 (2), 13 (1); ties by item id
    assert rows == {1: [12.0, 13.0], 2: [11.0, 13.0], 4: [10.0, 13.0], 5: [10.0, 11.0]}
    metrics = baselines.popularity_baseline(_df(spark, TRAIN), labels, K)
    # hits: user 1 at rank 1, user 2 at rank 1, user 4 at rank 2, user 5 at rank 1
    assert metrics["precisionAtK"] == pytest.approx((1 + 1 + 1 + 1) / (2 * 4))
    assert metrics["recallAtK"] == pytest.approx(1.0)
    ndcg = [1.0, 1.0, math.log(2) / math.log(3), 1.0]  # a hit at rank 2 of one relevant item
    assert metrics["ndcgAtK"] == pytest.approx(sum(ndcg) / 4)


def test_lift_is_better_than_one_when_the_model_beats_the_baseline():
    lift = baselines.lift({"rmse": 0.9, "mae": 0.7, "ndcgAtK": 0.2, "precisionAtK": 0.1},
                          {"globalMean": {"rmse": 1.1, "mae": 0.9}, "bias": {"rmse": 0.95, "mae": 0.75},
                           "popularity": {"ndcgAtK": 0.16, "precisionAtK": 0.125}})
    assert lift["rmseVsBias"] == pytest.approx(0.95 / 0.9)
    assert lift["rmseVsGlobalMean"] == pytest.approx(1.1 / 0.9)
    assert lift["ndcgAtKVsPopularity"] == pytest.approx(1.25)
    assert lift["precisionAtKVsPopularity"] == pytest.approx(0.8)
    assert lift["mapVsPopularity"] is None
