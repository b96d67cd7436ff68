"""Train an ALS recommender on a ratings dataset; save it as a new model version with metadata.json.

    spark-submit jobs/train.py --train s3://lake/silver/netflix/ratings/train --model-root s3://models/recommender \\
        --result-uri s3://lake/runs/…/train.json

The model goes to ``<model-root>/versions/<version>/model`` and ``metadata.json`` (params, input dataset version,
row counts, duration, code version) is written last, marking the version complete. An existing version is never
overwritten (a fresh, unique version id; Spark's save refuses an existing path). Defaults as the seed: rank 64,
regParam 0.1, maxIter 15, explicit ratings (``--implicit-prefs`` off), ``--nonnegative`` off, coldStart drop.
With ``--checkpoint-dir`` (the pipelines pass ``s3://<lake>/tmp/checkpoints/<state machine>/<execution>/train/``)
ALS checkpoints its factors every ``--checkpoint-interval`` (10) iterations: without it the lineage grows with
``maxIter`` and a few dozen iterations overflow a default 1 MiB JVM thread stack (StackOverflowError in task
serialization). The checkpoint files are removed after the model is saved (``tmp/`` expires them anyway).
With any ``--grid-*`` list the parameters are searched first (:mod:`jobs.recommender.tuning`: Spark ML's
TrainValidationSplit on ``--validation-fraction`` of the training ratings — or, with ``--validation-split time``,
on the latest ratings by date — scored on ``--tune-objective``); the best candidate is refitted on all training
ratings, and the grid and every candidate's score go into metadata.json (``tuning``) and the result (``tuning``:
objective, best, number of candidates).

One version holds the right model for each job. A ranking objective searches the whole grid (implicit feedback
included) for the **ranking model**, which the recommendations come from; the **rating model**, which predicts
ratings (RMSE/MAE, drift), is searched on ``--rating-objective`` among the grid's explicit candidates. When both
searches choose the same explicit parameters one ALS serves both (``model/``); otherwise the version holds
``ranking/`` and ``rating/`` (metadata.json ``models`` names the directory and parameters of each role). Without a
search, or with an error objective, one model serves both roles.
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as a script (spark-submit jobs/train.py): make `jobs` importable
    import os as _os
    import sys as _sys

    _sys.path.insert(0, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))

import argparse
import json
import sys
import time
from datetime import datetime, timezone

from pyspark import StorageLevel
from pyspark.ml.recommendation import ALS
from pyspark.sql import DataFrame, functions as F

from jobs.common import cli, datasets, uris
from jobs.common.log import get_logger
from jobs.recommender import models
from jobs.recommender import tuning as tuning_mod

JOB = "train"
log = get_logger(f"jobs.{JOB}")


def build_parser():
    parser = cli.new_parser(JOB, __doc__.split("\n\n")[0])
    parser.add_argument("--train", required=True, metavar="URI", help="ratings table (root, or <root>@v<N>)")
    parser.add_argument("--model-root", required=True, metavar="URI", help="model root; versions go under versions/")
    parser.add_argument("--rank", type=cli.positive_int, default=64)
    parser.add_argument("--reg-param", type=cli.non_negative_float, default=0.1)
    parser.add_argument("--max-iter", type=cli.positive_int, default=15)
    parser.add_argument("--implicit-prefs", action="store_true", help="treat ratings as implicit feedback")
    parser.add_argument("--nonnegative", action="store_true", help="nonnegative factors")
    parser.add_argument("--cold-start-strategy", choices=["drop", "nan"], default="drop")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--alpha", type=cli.non_negative_float, default=1.0, help="confidence for implicit prefs")
    parser.add_argument("--checkpoint-dir", metavar="URI", default=None,
                        help="checkpoint directory (cuts ALS lineage on long runs)")
    parser.add_argument("--checkpoint-interval", type=cli.positive_int, default=10,
                        help="checkpoint the factors every N iterations (only with --checkpoint-dir)")
    tuning = parser.add_argument_group("tuning (any --grid-* turns it on; the flags above are the defaults)")
    tuning.add_argument("--grid-rank", type=_list(int), default=None, metavar="N[,N…]")
    tuning.add_argument("--grid-reg-param", type=_list(float), default=None, metavar="X[,X…]")
    tuning.add_argument("--grid-max-iter", type=_list(int), default=None, metavar="N[,N…]")
    tuning.add_argument("--grid-implicit-prefs", type=_list(_boolean), default=None, metavar="false,true")
    tuning.add_argument("--grid-alpha", type=_list(float), default=None, metavar="X[,X…]")
    tuning.add_argument("--tune-objective", choices=tuning_mod.OBJECTIVES, default="ndcgAtK")
    tuning.add_argument("--rating-objective", choices=tuning_mod.ERROR_OBJECTIVES, default="rmse",
                        help="objective of the rating model's search when --tune-objective ranks")
    tuning.add_argument("--tune-max-models", type=cli.positive_int, default=None,
                        help="score at most N candidates (a seeded random sample of the grid)")
    tuning.add_argument("--validation-fraction", type=cli.fraction, default=0.2,
                        help="share of the training ratings held out to score candidates")
    tuning.add_argument("--validation-split", choices=tuning_mod.SPLITS, default="random",
                        help="random: a seeded random share; time: the latest ratings by date")
    tuning.add_argument("--tune-k", type=cli.positive_int, default=10, help="K of a ranking objective")
    tuning.add_argument("--tune-threshold", type=float, default=4.0, help="relevant rating of a ranking objective")
    return parser


def _list(kind):
    def parse(text: str) -> list:
        try:
            values = [kind(v) for v in text.split(",") if v.strip()]
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"not a comma-separated list: {text!r} ({error})") from None
        if not values:
            raise argparse.ArgumentTypeError("must name at least one value")
        return values
    return parse


def _boolean(text: str) -> bool:
    if text.strip().lower() not in ("true", "false"):
        raise ValueError(f"{text!r} is not true or false")
    return text.strip().lower() == "true"


def search_grid(args) -> dict[str, list]:
    return {"rank": args.grid_rank, "regParam": args.grid_reg_param, "maxIter": args.grid_max_iter,
            "implicitPrefs": args.grid_implicit_prefs, "alpha": args.grid_alpha}


def transform(ratings: DataFrame, with_date: bool = False) -> DataFrame:
    """Ratings dataset → ALS input (user, item, rating as float; and the rating's date for a time split)."""
    columns = [F.col("customer_id").cast("int"), F.col("movie_id").cast("int"), F.col("rating").cast("float")]
    if with_date:
        columns.append(F.col("date").cast("date"))
    return ratings.select(*columns)


def remove_checkpoints(spark) -> None:
    """Deletes this application's checkpoint files (Spark keeps them; the saved model does not need them)."""
    directory = spark.sparkContext.getCheckpointDir()
    if directory:
        try:
            uris.delete(uris.to_logical(directory))
        except Exception:  # noqa: BLE001 - tmp/ expires anyway; a leftover must not fail the trained model
            log.warning("could not remove checkpoints at %s", directory)


def als_params(args) -> dict:
    return {"rank": args.rank, "regParam": args.reg_param, "maxIter": args.max_iter,
            "implicitPrefs": args.implicit_prefs, "alpha": args.alpha}


def build_als(params: dict, args) -> ALS:
    return ALS(userCol="customer_id", itemCol="movie_id", ratingCol="rating", rank=params["rank"],
               regParam=params["regParam"], maxIter=params["maxIter"], implicitPrefs=params["implicitPrefs"],
               nonnegative=args.nonnegative, coldStartStrategy=args.cold_start_strategy, seed=args.seed,
               alpha=params["alpha"], checkpointInterval=args.checkpoint_interval)


def search(data: DataFrame, args, grid: dict[str, list]) -> dict:
    """The search of each role: ``{"ranking": tuning result, "rating": tuning result}`` (one entry, under both
    roles, when the objective is an error metric or the grid has no explicit candidate)."""
    candidates = tuning_mod.candidate_grid(grid, als_params(args), args.tune_max_models, args.seed)
    common = dict(validation_fraction=args.validation_fraction, seed=args.seed, k=args.tune_k,
                  threshold=args.tune_threshold, split=args.validation_split,
                  base={"nonnegative": args.nonnegative, "seed": args.seed,
                        "checkpointInterval": args.checkpoint_interval})
    first = tuning_mod.tune(data, candidates, args.tune_objective, **common)
    first["grid"] = {k: v for k, v in grid.items() if v}
    if args.tune_objective in tuning_mod.ERROR_OBJECTIVES:
        return {"ranking": first, "rating": first}
    explicit = tuning_mod.explicit_candidates(candidates)
    if not explicit:
        return {"ranking": first, "rating": first}
    rating = tuning_mod.tune(data, explicit, args.rating_objective, **common)
    rating["grid"] = first["grid"]
    return {"ranking": first, "rating": rating}


def main(args, ctx: cli.JobContext) -> None:
    spark = ctx.spark
    root, input_version = datasets.split_ref(args.train)
    if input_version is None:
        input_version = datasets.latest_version(spark, root)  # None: Parquet files, not a table
    # what this model is trained on
    resolved = root if input_version is None else datasets.version_ref(root, input_version)
    if args.checkpoint_dir:
        # ALS then checkpoints its factors every --checkpoint-interval iterations, cutting the RDD lineage that
        # otherwise grows with maxIter until task serialization overflows the JVM's default thread stack.
        spark.sparkContext.setCheckpointDir(uris.to_physical(args.checkpoint_dir))
    data = transform(datasets.read_dataset(spark, resolved),
                     with_date=args.validation_split == "time").persist(StorageLevel.MEMORY_AND_DISK)
    try:
        stats = data.agg(F.count(F.lit(1)).alias("rows"), F.countDistinct("customer_id").alias("users"),
                         F.countDistinct("movie_id").alias("items")).first()
        if stats["rows"] == 0:
            raise ValueError(f"training dataset {resolved} is empty")
        started = time.time()
        grid = search_grid(args)
        searches = search(data, args, grid) if any(grid.values()) else None
        if searches:
            chosen = {role: found["best"]["params"] for role, found in searches.items()}
            # each search's best candidate comes back fitted on all training ratings (TrainValidationSplit's refit)
            refitted = {role: found.pop("model", None) for role, found in searches.items()}
            if refitted["rating"] is None:  # one search served both roles
                refitted["rating"] = refitted["ranking"]
        else:
            chosen = {"ranking": als_params(args), "rating": als_params(args)}
            refitted = {"ranking": build_als(chosen["ranking"], args).fit(data)}
        shared = chosen["ranking"] == chosen["rating"]
        fitted = {role: refitted[role].setColdStartStrategy(args.cold_start_strategy)
                  for role in (("ranking",) if shared else ("ranking", "rating"))}
        train_seconds = time.time() - started
    finally:
        data.unpersist()

    version = datasets.new_version_id()
    version_uri = uris.join_uri(args.model_root, "versions", version)
    if uris.exists(version_uri):
        raise FileExistsError(f"model version {version_uri} exists; refusing to overwrite")
    directories = {"ranking": models.MODEL_DIR, "rating": models.MODEL_DIR} if shared else \
        {"ranking": models.RANKING_DIR, "rating": models.RATING_DIR}
    for role, model in fitted.items():
        model.save(uris.to_physical(uris.join_uri(version_uri, directories[role])))
    common_params = {"nonnegative": args.nonnegative, "coldStartStrategy": args.cold_start_strategy,
                     "seed": args.seed}
    role_params = {role: {**chosen[role], **common_params} for role in ("ranking", "rating")}
    metadata = {
        "version": version,
        "createdAt": datetime.now(timezone.utc).isoformat(),
        "algorithm": "spark.ml ALS",
        # the recommendations' model (= the only model when one serves both)
        "params": role_params["ranking"],
        "models": {role: {"dir": directories[role], "params": role_params[role]} for role in ("ranking", "rating")},
        "input": {"uri": args.train, "resolved": resolved, "version": input_version},
        "counts": {"rows": int(stats["rows"]), "users": int(stats["users"]), "items": int(stats["items"])},
        "trainSeconds": round(train_seconds, 3),
        "tuning": searches["ranking"] if searches else None,
        "ratingTuning": searches["rating"] if searches and searches["rating"] is not searches["ranking"] else None,
        "codeVersion": models.code_version(),
        "sparkVersion": spark.version,
    }
    uris.write_text(uris.join_uri(version_uri, models.METADATA), json.dumps(metadata, indent=2, sort_keys=True))
    if args.checkpoint_dir:
        remove_checkpoints(spark)
        ctx.outputs["checkpointDir"] = args.checkpoint_dir
    ctx.counts.update(metadata["counts"])
    ctx.metrics["trainSeconds"] = metadata["trainSeconds"]
    if searches:
        ctx.extra["tuning"] = {role: summary(found) for role, found in searches.items()}
        ctx.extra["tuning"].update(summary(searches["ranking"]))
    ctx.extra["models"] = metadata["models"]
    ctx.outputs.update({"model": version_uri, "version": version})


#: candidates whose scores the result carries (all of them are in metadata.json), so the result stays small
RESULT_CANDIDATES = 50


def summary(found: dict) -> dict:
    """A search in the result: objective, best, how many candidates and the best ``RESULT_CANDIDATES`` scores."""
    ordered = sorted(found["candidates"], key=lambda c: -c["score"] if found["largerIsBetter"] else c["score"])
    return {"objective": found["objective"], "best": found["best"], "candidates": len(found["candidates"]),
            "split": found["split"], "largerIsBetter": found["largerIsBetter"], "scores": ordered[:RESULT_CANDIDATES]}


def run(argv=None) -> int:
    return cli.run_job(JOB, build_parser, main, argv)


if __name__ == "__main__":
    sys.exit(run())
