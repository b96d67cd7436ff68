"""Top-K recommendations of a model: per user the K best-scored items the user has not rated, a versioned dataset.

    spark-submit jobs/recommend.py --model s3://models/recommender/versions/<v> \\
        --train s3://lake/silver/netflix/ratings/train --output s3://lake/gold/netflix/recommendations --k 10 \\
        --result-uri …

Output rows ``customer_id, rank, movie_id, score`` (rank 1 = best, ordered by score, ties by movie id) for every
user the model knows, written as a new version of ``--output`` (``outputs.dataset``). Items a user rated in
``--train`` are never recommended; a user who rated nearly everything gets fewer than K rows.
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as a script (spark-submit jobs/recommend.py): make `jobs` importable
    import os as _os
    import sys as _sys

    _sys.path.insert(0, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))

import sys
from functools import reduce

from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.common import cli, datasets
from jobs.recommender import models

JOB = "recommend"
USER, ITEM = "customer_id", "movie_id"


def build_parser():
    parser = cli.new_parser(JOB, __doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, metavar="URI", help="model version directory")
    parser.add_argument("--train", required=True, metavar="URI", help="training ratings (items never recommended)")
    parser.add_argument("--output", required=True, metavar="URI", help="recommendations dataset root (versioned)")
    parser.add_argument("--k", type=cli.positive_int, default=10, help="recommendations per user")
    return parser


def candidate_buckets(seen_counts: DataFrame, k: int, n_items: int) -> DataFrame:
    """Per user the candidates to ask the model for: K + the items it rated, rounded up to a power of two (so the
    model is asked once per bucket, not once per user), at most every item (pure)."""
    needed = F.col("seen") + F.lit(k)
    bucket = F.pow(F.lit(2), F.ceil(F.log2(needed))).cast("int")
    return seen_counts.select(USER, F.least(bucket, F.lit(n_items)).alias("candidates"))


def top_unseen(recommended: DataFrame, train: DataFrame, k: int) -> DataFrame:
    """(USER, recommendations array) → ``customer_id, rank, movie_id, score`` without rated items (pure)."""
    scored = recommended.select(USER, F.explode("recommendations").alias("r")) \
        .select(USER, F.col(f"r.{ITEM}").alias(ITEM), F.col("r.rating").alias("score"))
    unseen = scored.join(train.select(USER, ITEM).distinct(), [USER, ITEM], "left_anti")
    order = Window.partitionBy(USER).orderBy(F.desc("score"), F.asc(ITEM))
    return (unseen.withColumn("rank", F.row_number().over(order)).where(F.col("rank") <= k)
            .select(F.col(USER).cast("int"), F.col("rank").cast("int"), F.col(ITEM).cast("int"),
                    F.col("score").cast("double")))


def recommend(model: ALSModel, train: DataFrame, k: int) -> DataFrame:
    users = model.userFactors.select(F.col("id").alias(USER))
    seen = train.groupBy(USER).agg(F.count(F.lit(1)).alias("seen"))
    with_seen = users.join(seen, USER, "left").fillna(0, ["seen"])
    buckets = candidate_buckets(with_seen, k, model.itemFactors.count()).cache()
    parts = [model.recommendForUserSubset(buckets.where(F.col("candidates") == n).select(USER), n)
             for n in sorted(r["candidates"] for r in buckets.select("candidates").distinct().collect())]
    if not parts:
        raise ValueError("the model knows no users")
    return top_unseen(reduce(DataFrame.unionByName, parts), train, k)


def main(args, ctx: cli.JobContext) -> None:
    spark = ctx.spark
    model = models.load_model(args.model, role="ranking")
    train = datasets.read_dataset(spark, args.train)
    recommendations = recommend(model, train, args.k).cache()
    try:
        rows = recommendations.count()
        users = recommendations.select(USER).distinct().count()
        version_uri = datasets.write_dataset(recommendations, args.output, kind="recommendations",
                                             model=args.model, k=args.k)
    finally:
        recommendations.unpersist()
    ctx.counts.update({"rows": rows, "users": users})
    ctx.outputs.update({"dataset": version_uri, "model": args.model})


def run(argv=None) -> int:
    return cli.run_job(JOB, build_parser, main, argv)


if __name__ == "__main__":
    sys.exit(run())
