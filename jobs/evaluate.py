"""Evaluate an ALS model: RMSE, MAE (RegressionEvaluator) and Precision@K, Recall@K, NDCG@K, MAP (RankingEvaluator).

    spark-submit jobs/evaluate.py --model s3://models/recommender/versions/<v> --train s3://lake/silver/netflix/ratings/train \\
        --test s3://lake/silver/netflix/ratings/test --current-pointer s3://models/recommender/current.json --result-uri …

Relevance is binary (rating ≥ ``--threshold``); recommendations exclude items the user rated in training (see
:mod:`jobs.recommender.evaluation`). With ``--current-pointer`` naming a promoted model (JSON ``{"modelUri": …}``),
that model is evaluated on the same data into ``currentModelMetrics`` (null when there is no pointer) for the gate.
Ranking metrics come from the version's ranking model, RMSE/MAE from its rating model (one model may serve both;
:mod:`jobs.recommender.models`). ``metrics.baselines`` holds the global-mean, user/item-bias and most-popular-unseen baselines on the same split and
protocol, ``metrics.lift`` the model's lift over each (:mod:`jobs.recommender.baselines`).
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as a script (spark-submit jobs/evaluate.py): make `jobs` importable
    import os as _os
    import sys as _sys

    _sys.path.insert(0, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))

import sys

from pyspark import StorageLevel

from jobs.common import cli, datasets
from jobs.recommender import evaluation, models

JOB = "evaluate"


def build_parser():
    parser = cli.new_parser(JOB, __doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, metavar="URI", help="model version directory")
    parser.add_argument("--train", required=True, metavar="URI", help="training ratings (items to exclude)")
    parser.add_argument("--test", required=True, metavar="URI", help="test ratings")
    parser.add_argument("--k", type=cli.positive_int, default=10)
    parser.add_argument("--threshold", type=float, default=4.0, help="relevant when rating >= threshold")
    parser.add_argument("--current-pointer", metavar="URI", default=None,
                        help="promoted-model pointer JSON ({\"modelUri\": …}); missing file = no current model")
    return parser


def main(args, ctx: cli.JobContext) -> None:
    spark = ctx.spark
    train = datasets.read_dataset(spark, args.train).persist(StorageLevel.MEMORY_AND_DISK)
    test = datasets.read_dataset(spark, args.test).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        ranking, rating = models.load_roles(args.model)
        metrics = evaluation.evaluate(ranking, train, test, args.k, args.threshold, rating_model=rating)
        ctx.metrics.update(metrics)
        current_uri = models.current_model_uri(args.current_pointer)
        current = None
        if current_uri is not None:
            ranking, rating = models.load_roles(current_uri)
            current = evaluation.evaluate(ranking, train, test, args.k, args.threshold,
                                          baselines=metrics["baselines"], rating_model=rating)
            current["modelUri"] = current_uri
        ctx.extra["currentModelMetrics"] = current
        ctx.counts.update({"test": test.count(), "predicted": metrics["predicted"],
                           "rankedUsers": metrics["rankedUsers"]})
    finally:
        train.unpersist()
        test.unpersist()
    ctx.outputs["model"] = args.model


def run(argv=None) -> int:
    return cli.run_job(JOB, build_parser, main, argv)


if __name__ == "__main__":
    sys.exit(run())
