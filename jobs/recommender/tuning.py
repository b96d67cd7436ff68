"""Hyper-parameter search for ALS with Spark ML's ``TrainValidationSplit`` on a validation split cut from the
training data only (the test set is never read): a seeded random share (``split="random"``, TrainValidationSplit's
own) or the latest ratings by date (``split="time"``, :class:`TimeValidationSplit`: the candidates are fitted on
the ratings before a cut date and scored on those from it on, as a model is used: on what comes next).

Objectives: ``rmse`` / ``mae`` (``RegressionEvaluator`` on the validation ratings) or a ranking metric (``ndcgAtK``,
``precisionAtK``, ``recallAtK``, ``map``, ``mapAtK``: ``RankingEvaluator`` on each validation user's top-K items
among those not rated in the fitting part, :mod:`jobs.recommender.evaluation`'s protocol). For the ranking
objectives ALS is wrapped in :class:`TopKALS`, an Estimator whose model turns validation rows into
``prediction``/``label`` arrays, so ``TrainValidationSplit`` can score it with ``RankingEvaluator``.
"""
from __future__ import annotations

import itertools
import random

from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.evaluation import RankingEvaluator, RegressionEvaluator
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.recommendation import ALS
from pyspark.ml.tuning import TrainValidationSplit, TrainValidationSplitModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.recommender import evaluation

USER, ITEM, RATING = "customer_id", "movie_id", "rating"
OBJECTIVES = ("rmse", "mae", "ndcgAtK", "precisionAtK", "recallAtK", "map", "mapAtK")
ERROR_OBJECTIVES = ("rmse", "mae")
SPLITS = ("random", "time")
DATE = "date"
RANKING_METRIC_NAMES = {"ndcgAtK": "ndcgAtK", "precisionAtK": "precisionAtK", "recallAtK": "recallAtK",
                        "map": "meanAveragePrecision", "mapAtK": "meanAveragePrecisionAtK"}
#: The ALS parameters a search may vary (grid key → ALS param name).
TUNABLE = ("rank", "regParam", "maxIter", "implicitPrefs", "alpha")


class _ALSParams(Params):
    rank = Param(Params._dummy(), "rank", "ALS rank", TypeConverters.toInt)
    regParam = Param(Params._dummy(), "regParam", "ALS regularization", TypeConverters.toFloat)
    maxIter = Param(Params._dummy(), "maxIter", "ALS iterations", TypeConverters.toInt)
    implicitPrefs = Param(Params._dummy(), "implicitPrefs", "implicit feedback", TypeConverters.toBoolean)
    alpha = Param(Params._dummy(), "alpha", "implicit confidence", TypeConverters.toFloat)

    def als(self, base: dict) -> ALS:
        params = {name: self.getOrDefault(getattr(self, name)) for name in TUNABLE}
        return ALS(userCol=USER, itemCol=ITEM, ratingCol=RATING, coldStartStrategy="drop", **base, **params)


class TopKALS(Estimator, _ALSParams):
    """ALS whose model ranks: ``transform(validation)`` = per validation user with a relevant item, ``prediction``
    (top-K unseen by the fitting data, best first) and ``label`` (relevant validation items)."""

    @keyword_only
    def __init__(self, *, k: int = 10, threshold: float = 4.0, base: dict | None = None, **params):
        super().__init__()
        self.k, self.threshold, self.base = k, threshold, dict(base or {})
        self._setDefault(rank=10, regParam=0.1, maxIter=10, implicitPrefs=False, alpha=1.0)
        self._set(**params)

    def _fit(self, dataset: DataFrame) -> "TopKALSModel":
        return TopKALSModel(self.als(self.base).fit(dataset), dataset, self.k, self.threshold)


class TopKALSModel(Model):
    def __init__(self, als_model, fitted_on: DataFrame, k: int, threshold: float):
        super().__init__()
        self.als_model, self.fitted_on, self.k, self.threshold = als_model, fitted_on, k, threshold

    def _transform(self, dataset: DataFrame) -> DataFrame:
        return evaluation.ranking_input(self.als_model, self.fitted_on, dataset, self.k, self.threshold)


class _PlainALS(Estimator, _ALSParams):
    """ALS under the same Param objects, so one grid serves both kinds of objective."""

    def __init__(self, base: dict | None = None):
        super().__init__()
        self.base = dict(base or {})
        self._setDefault(rank=10, regParam=0.1, maxIter=10, implicitPrefs=False, alpha=1.0)

    def _fit(self, dataset: DataFrame):
        return self.als(self.base).fit(dataset)


class TimeValidationSplit(TrainValidationSplit):
    """TrainValidationSplit whose validation part is the latest ``1 - trainRatio`` of the ratings by ``date``
    (every validation rating is dated on or after the cut; the fitting part strictly before it)."""

    def _fit(self, dataset: DataFrame) -> TrainValidationSplitModel:
        estimator, maps = self.getEstimator(), self.getEstimatorParamMaps()
        evaluator = self.getEvaluator()
        fitting, validation = split_by_time(dataset, self.getTrainRatio())
        fitting, validation = fitting.cache(), validation.cache()
        try:
            metrics = [0.0] * len(maps)
            for index, model in estimator.fitMultiple(fitting, maps):
                metrics[index] = evaluator.evaluate(model.transform(validation, maps[index]))
        finally:
            fitting.unpersist()
            validation.unpersist()
        best = max(range(len(maps)), key=lambda i: metrics[i] if evaluator.isLargerBetter() else -metrics[i])
        return self._copyValues(TrainValidationSplitModel(estimator.fit(dataset, maps[best]), metrics))


def split_by_time(ratings: DataFrame, train_ratio: float) -> tuple[DataFrame, DataFrame]:
    """(ratings dated before the cut, ratings dated on/after it); the cut is the ``train_ratio`` quantile of the
    dates (pure but for one approximate-quantile pass)."""
    days = F.datediff(F.col(DATE), F.lit("1970-01-01"))
    (cut,) = ratings.select(days.alias("d")).approxQuantile("d", [train_ratio], 0.001)
    return ratings.where(days < cut), ratings.where(days >= cut)


def explicit_candidates(candidates: list[dict]) -> list[dict]:
    """The explicit-feedback candidates (alpha plays no part in them, so candidates differing only in it are one)."""
    seen, out = set(), []
    for candidate in candidates:
        if candidate["implicitPrefs"]:
            continue
        key = tuple(candidate[k] for k in TUNABLE if k != "alpha")
        if key not in seen:
            seen.add(key)
            out.append(candidate)
    return out


def candidate_grid(grid: dict[str, list], defaults: dict, max_models: int | None, seed: int) -> list[dict]:
    """Every combination of the grid's values (a parameter not in the grid keeps ``defaults``), or a seeded random
    sample of ``max_models`` of them."""
    keys = [k for k in TUNABLE if grid.get(k)]
    combos = [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]
    candidates = [{**{k: defaults[k] for k in TUNABLE}, **combo} for combo in combos]
    if max_models is not None and len(candidates) > max_models:
        candidates = random.Random(seed).sample(candidates, max_models)
    return candidates


def tune(train: DataFrame, candidates: list[dict], objective: str, validation_fraction: float, seed: int,
         k: int, threshold: float, base: dict, split: str = "random") -> dict:
    """Scores every candidate on a validation split of ``train``; returns ``{best, candidates: [{params, score}]}``
    and, under ``model``, the best candidate's ALSModel fitted on all of ``train`` (TrainValidationSplit's own
    refit)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective: must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if split not in SPLITS:
        raise ValueError(f"split: must be one of {', '.join(SPLITS)}, got {split!r}")
    if objective in ERROR_OBJECTIVES:
        estimator = _PlainALS(base=base)
        evaluator = RegressionEvaluator(labelCol=RATING, predictionCol="prediction", metricName=objective)
    else:
        estimator = TopKALS(k=k, threshold=threshold, base=base)
        evaluator = RankingEvaluator(predictionCol="prediction", labelCol="label", k=k,
                                     metricName=RANKING_METRIC_NAMES[objective])
    # one ParamMap per candidate (a sampled budget is not a full cross product, so no ParamGridBuilder)
    maps = [{getattr(estimator, name): candidate[name] for name in TUNABLE} for candidate in candidates]
    kind = TimeValidationSplit if split == "time" else TrainValidationSplit
    searcher = kind(estimator=estimator, estimatorParamMaps=maps, evaluator=evaluator,
                    trainRatio=1.0 - validation_fraction, seed=seed, parallelism=1)
    fitted = searcher.fit(train)
    scored = [{"params": {p.name: v for p, v in m.items()}, "score": float(s)}
              for m, s in zip(maps, fitted.validationMetrics)]
    larger_better = evaluator.isLargerBetter()
    best = max(scored, key=lambda c: c["score"] if larger_better else -c["score"])
    best_model = fitted.bestModel
    return {"objective": objective, "validationFraction": validation_fraction, "split": split, "seed": seed,
            "largerIsBetter": larger_better, "best": best, "candidates": scored,
            "model": getattr(best_model, "als_model", best_model)}
