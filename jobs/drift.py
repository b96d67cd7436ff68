"""Drift jobs on streamed rating batches: ``process``, ``detect`` and ``merge``.

    spark-submit jobs/drift.py process --input s3://lake/bronze/netflix/stream/incoming/ \\
        --staging s3://lake/silver/netflix/stream/staging --result-uri …
    spark-submit jobs/drift.py detect --baseline-test s3://lake/silver/netflix/ratings/test \\
        --new-test s3://lake/silver/netflix/stream/staging/test --current-pointer s3://models/recommender/current.json --result-uri …
    spark-submit jobs/drift.py merge --staging … --train … --test … --incoming … --result-uri …

``process`` reads CSV batches (``DATE,CUST_ID,MOVIE_ID,RATING`` with a header), keeps valid rows (others are counted
as rejected and written to ``<staging>/rejects``), de-duplicates per (movie, customer) — latest date, then the
higher rating — and splits them deterministically by a seeded hash of (movie, customer) into ``<staging>/train``
and ``<staging>/test`` (versioned datasets whose pointers list the consumed batch files).
``detect`` writes ``decision`` = ``{"retrain", "score", "reasons", "metrics"}`` (see :mod:`jobs.recommender.drift`).
``merge`` upserts the staged train/test into the processed datasets (new versions, atomic pointers), and only
after both commits deletes the consumed batch files from ``--incoming``. Re-running merge gives the same datasets.
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as a script (spark-submit jobs/drift.py): make `jobs` importable
    import os as _os
    import sys as _sys

    _sys.path.insert(0, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))

import argparse
import sys

from pyspark import StorageLevel
from pyspark.sql import DataFrame, functions as F

from jobs.common import cli, datasets, uris
from jobs.recommender import drift, evaluation, models, netflix

JOB = "drift"
CSV_HEADER = ("DATE", "CUST_ID", "MOVIE_ID", "RATING")
CSV_SCHEMA_COLUMNS = ("raw_date", "raw_customer", "raw_movie", "raw_rating")


def _weights(text: str) -> tuple[float, float, float]:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not three numbers: {text!r}") from None
    if len(values) != 3 or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"needs three non-negative numbers (kl,mean,median), got {text!r}")
    return values  # type: ignore[return-value]


def build_parser():
    parser = argparse.ArgumentParser(prog=f"jobs.{JOB}", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True, metavar="{process,detect,merge}")
    fmt = argparse.ArgumentDefaultsHelpFormatter

    process = sub.add_parser("process", help="new ratings CSV → seeded train/test split in staging",
                             formatter_class=fmt)
    cli.add_result_uri(process)
    process.add_argument("--input", required=True, metavar="URI", help="CSV batch file(s): file, directory or glob")
    process.add_argument("--staging", required=True, metavar="URI", help="staging root (train/, test/)")
    process.add_argument("--test-fraction", type=cli.fraction, default=0.2)
    process.add_argument("--seed", type=int, default=42)

    detect = sub.add_parser("detect", help="data and model drift → retrain decision", formatter_class=fmt)
    cli.add_result_uri(detect)
    detect.add_argument("--baseline-test", required=True, metavar="URI")
    detect.add_argument("--new-test", required=True, metavar="URI")
    detect.add_argument("--current-pointer", required=True, metavar="URI",
                        help="promoted-model pointer JSON; a missing file means no current model")
    detect.add_argument("--kl-threshold", type=cli.non_negative_float, default=0.1)
    detect.add_argument("--mean-threshold", type=cli.non_negative_float, default=0.2)
    detect.add_argument("--median-threshold", type=cli.non_negative_float, default=0.5)
    detect.add_argument("--weights", type=_weights, default=(0.5, 0.3, 0.2), metavar="KL,MEAN,MEDIAN")
    detect.add_argument("--score-threshold", type=cli.non_negative_float, default=1.0)
    detect.add_argument("--rmse-increase-threshold", type=cli.non_negative_float, default=0.1,
                        help="retrain when the current model's RMSE on new data exceeds baseline by this fraction")
    detect.add_argument("--smoothing", type=cli.non_negative_float, default=drift.DEFAULT_SMOOTHING,
                        help="additive smoothing per histogram bin for KL")

    merge = sub.add_parser("merge", help="upsert staging into the processed datasets", formatter_class=fmt)
    cli.add_result_uri(merge)
    merge.add_argument("--staging", required=True, metavar="URI")
    merge.add_argument("--train", required=True, metavar="URI")
    merge.add_argument("--test", required=True, metavar="URI")
    merge.add_argument("--incoming", required=True, metavar="URI", help="where consumed batch files are deleted")
    return parser


# --- process -------------------------------------------------------------------------------------------------

def read_batches(spark, uri: str) -> DataFrame:
    """CSV batches as strings; the header must be DATE,CUST_ID,MOVIE_ID,RATING (any case)."""
    df = spark.read.option("header", True).option("inferSchema", False).csv(uris.to_physical(uri))
    if [c.upper() for c in df.columns] != list(CSV_HEADER):
        raise ValueError(f"argument --input: CSV header must be {','.join(CSV_HEADER)}, got {','.join(df.columns)}")
    return df.toDF(*CSV_SCHEMA_COLUMNS).withColumn("source_file", F.col("_metadata.file_path"))


def parse_batch(raw: DataFrame) -> DataFrame:
    """CSV strings → ``movie_id, customer_id, rating, date, year, month, valid`` (pure)."""
    def pos_int(c):
        v = F.when(F.trim(c).rlike(r"^[0-9]{1,10}$"), F.trim(c).try_cast("int"))
        return F.when(v > 0, v)

    date = F.when(F.trim("raw_date").rlike(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
                  F.try_to_timestamp(F.trim("raw_date"), F.lit("yyyy-MM-dd")).cast("date"))
    parsed = raw.select(pos_int(F.col("raw_movie")).alias("movie_id"), pos_int(F.col("raw_customer")).alias("customer_id"),
                        pos_int(F.col("raw_rating")).alias("rating"), date.alias("date"), "*")
    valid = (F.col("movie_id").isNotNull() & F.col("customer_id").isNotNull() & F.col("rating").between(1, 5)
             & F.col("date").isNotNull())
    return parsed.withColumn("valid", F.coalesce(valid, F.lit(False))) \
        .withColumn("year", F.year("date")).withColumn("month", F.month("date"))


def dedupe_batch(valid: DataFrame) -> DataFrame:
    """One row per (movie, customer): latest date; same date → higher rating (order-independent)."""
    return netflix.upsert(None, valid.select(*netflix.RATING_COLUMNS, F.lit("batch").alias("source_file"),
                                             F.col("rating").cast("long").alias("line_number")))


def split(ratings: DataFrame, test_fraction: float, seed: int) -> tuple[DataFrame, DataFrame]:
    key = drift.split_key(ratings, seed)
    return ratings.where(key >= test_fraction), ratings.where(key < test_fraction)


def process(args, ctx: cli.JobContext) -> None:
    spark = ctx.spark
    if not uris.list_files(args.input) and not any(ch in args.input for ch in "*?["):
        raise FileNotFoundError(f"no incoming batch files at {args.input}")
    raw = read_batches(spark, args.input)
    parsed = parse_batch(raw).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        sources = sorted(uris.to_logical(r[0]) for r in parsed.select("source_file").distinct().collect())
        counts = parsed.groupBy("valid").count().collect()
        valid_n = sum(r["count"] for r in counts if r["valid"])
        rejected_n = sum(r["count"] for r in counts if not r["valid"])
        if valid_n == 0:
            raise ValueError(f"no valid ratings in {args.input}")
        rejects = parsed.where(~F.col("valid")).select(
            netflix.source_uri(F.col("source_file")).alias("source_file"),
            F.concat_ws(",", "raw_date", "raw_customer", "raw_movie", "raw_rating").alias("raw_line"))
        rejects_uri = datasets.write_dataset(rejects.coalesce(1), uris.join_uri(args.staging, "rejects"))
        ratings = dedupe_batch(parsed.where("valid")).persist(StorageLevel.MEMORY_AND_DISK)
        train, test = split(ratings, args.test_fraction, args.seed)
        extra = {"sources": sources, "seed": args.seed, "testFraction": args.test_fraction}
        train_uri = datasets.write_dataset(train, uris.join_uri(args.staging, "train"), ["year", "month"], **extra)
        test_uri = datasets.write_dataset(test, uris.join_uri(args.staging, "test"), ["year", "month"], **extra)
        ratings.unpersist()
    finally:
        parsed.unpersist()
    n_train = spark.read.parquet(uris.to_physical(train_uri)).count()
    n_test = spark.read.parquet(uris.to_physical(test_uri)).count()
    ctx.counts.update({"valid": valid_n, "rejected": rejected_n, "train": n_train, "test": n_test,
                       "written": n_train + n_test, "sources": len(sources)})
    ctx.outputs.update({"train": train_uri, "test": test_uri, "rejects": rejects_uri, "sources": sources,
                        "dataset": test_uri})


# --- detect --------------------------------------------------------------------------------------------------

def detect(args, ctx: cli.JobContext) -> None:
    spark = ctx.spark
    baseline = datasets.read_dataset(spark, args.baseline_test)
    new = datasets.read_dataset(spark, args.new_test)
    base_counts, new_counts = drift.histogram(baseline), drift.histogram(new)
    if sum(base_counts) == 0:
        raise ValueError(f"argument --baseline-test: no ratings in {args.baseline_test}")
    if sum(new_counts) == 0:
        raise ValueError(f"argument --new-test: no ratings in {args.new_test}")
    model_metrics = None
    current_uri = models.current_model_uri(args.current_pointer)
    if current_uri is not None:
        model = models.load_model(current_uri)
        base_reg = evaluation.regression_metrics(model, baseline)
        new_reg = evaluation.regression_metrics(model, new)
        model_metrics = {"modelUri": current_uri, "baselineRmse": base_reg["rmse"], "newRmse": new_reg["rmse"],
                         "baselineMae": base_reg["mae"], "newMae": new_reg["mae"]}
    thresholds = drift.Thresholds(kl=args.kl_threshold, mean=args.mean_threshold, median=args.median_threshold,
                                  weights=args.weights, score=args.score_threshold,
                                  rmse_increase=args.rmse_increase_threshold, smoothing=args.smoothing)
    decision = drift.decide(base_counts, new_counts, model_metrics, thresholds)
    ctx.extra["decision"] = decision.to_dict()
    ctx.metrics.update(decision.metrics)
    ctx.metrics["score"] = decision.score
    ctx.counts.update({"baseline": sum(base_counts), "new": sum(new_counts)})


# --- merge ---------------------------------------------------------------------------------------------------

def merge(args, ctx: cli.JobContext) -> None:
    spark = ctx.spark
    outputs, sources = {}, set()
    for name, target in (("train", args.train), ("test", args.test)):
        staged_root = uris.join_uri(args.staging, name)
        pointer = datasets.read_pointer(staged_root)
        staged = datasets.read_dataset(spark, staged_root)
        sources.update((pointer or {}).get("sources", []))
        existing = datasets.read_dataset(spark, target, required=False)
        incoming = staged.select(*netflix.RATING_COLUMNS, F.lit("staging").alias("source_file"),
                                 F.lit(0).cast("long").alias("line_number"))
        merged = netflix.upsert(existing, incoming)
        outputs[name] = datasets.write_dataset(merged, target, ["year", "month"], kind="netflix-ratings")
        ctx.counts[f"{name}Staged"] = staged.count()
        ctx.counts[f"{name}Written"] = spark.read.parquet(uris.to_physical(outputs[name])).count()
    ctx.counts["written"] = ctx.counts["trainWritten"] + ctx.counts["testWritten"]
    # Only now, with both datasets committed, is the batch consumed.
    incoming = uris.to_physical(args.incoming).rstrip("/")
    deleted = []
    for source in sorted(sources):
        physical = uris.to_physical(source)
        if (physical.startswith(incoming + "/") or physical == incoming) and uris.exists(source):
            uris.delete(source, recursive=False)
            deleted.append(source)
    ctx.counts["deletedBatches"] = len(deleted)
    ctx.outputs.update({"train": outputs["train"], "test": outputs["test"], "deleted": deleted})


ACTIONS = {"process": process, "detect": detect, "merge": merge}


def main(args, ctx: cli.JobContext) -> None:
    ctx.extra["action"] = args.action
    ACTIONS[args.action](args, ctx)


def run(argv=None) -> int:
    return cli.run_job(JOB, build_parser, main, argv)


if __name__ == "__main__":
    sys.exit(run())
