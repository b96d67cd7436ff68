"""Drift jobs on streamed rating batches: ``process``, ``detect``, ``merge`` and ``consume``.

    spark-submit jobs/drift.py process --input s3://lake/bronze/netflix/stream/incoming/ \\
        --staging s3://lake/silver/netflix/stream/staging --result-uri …
    spark-submit jobs/drift.py detect --baseline-test s3://lake/silver/netflix/ratings/test \\
        --new-test s3://lake/silver/netflix/stream/staging/test --current-pointer s3://models/recommender/current.json --result-uri …
    spark-submit jobs/drift.py merge --staging … --manifest … --train … --test … --result-uri …
    spark-submit jobs/drift.py consume --manifest … --incoming … --result-uri …

``process`` takes the newest ``--max-batches`` batch files at ``--input`` (by modification time; older ones stay
where they are, counted as ``pendingBatches``), reads them as CSV (``DATE,CUST_ID,MOVIE_ID,RATING`` with a header),
keeps valid rows (others are counted as rejected and written to ``<staging>/rejects``), de-duplicates per (movie,
customer) — latest date, then the higher rating — and splits them deterministically by a seeded hash of (movie,
customer) into ``<staging>/train`` and ``<staging>/test`` (versioned datasets). The files it took are listed in ONE
manifest, ``<staging>/manifests/<id>.json``; the result carries counts and the manifest's URI, never the file list,
so it stays a few hundred bytes however many batches there are. No batch file → ``batchStatus: NO_NEW_BATCH``,
``counts.batches`` 0, nothing written, exit 0.
``detect`` writes ``decision`` = ``{"retrain", "score", "reasons", "metrics"}`` (see :mod:`jobs.recommender.drift`).
``merge`` upserts the staged train/test (which must belong to ``--manifest``) into the processed datasets (new
versions, atomic pointers) and deletes nothing: re-running it gives the same datasets. ``consume`` deletes the
manifest's batch files from ``--incoming`` — the pipeline runs it only after the retrained model was promoted, so a
failed, not-promoted or no-drift run leaves every batch in place for the next run.
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as a script (spark-submit jobs/drift.py): make `jobs` importable
    import os as _os
    import sys as _sys

    _sys.path.insert(0, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))

import argparse
import json
import sys
from datetime import datetime, timezone

from pyspark import StorageLevel
from pyspark.sql import DataFrame, functions as F

from jobs.common import cli, datasets, uris
from jobs.recommender import drift, evaluation, models, netflix

JOB = "drift"
CSV_HEADER = ("DATE", "CUST_ID", "MOVIE_ID", "RATING")
CSV_SCHEMA_COLUMNS = ("raw_date", "raw_customer", "raw_movie", "raw_rating")
NO_NEW_BATCH, NEW_BATCH = "NO_NEW_BATCH", "NEW_BATCH"
MANIFEST_KIND = "drift-batch-manifest"
MANIFESTS = "manifests"
MANIFESTS_KEPT = 10
DEFAULT_MAX_BATCHES = 1000


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
    sub = parser.add_subparsers(dest="action", required=True, metavar="{process,detect,merge,consume}")
    fmt = argparse.ArgumentDefaultsHelpFormatter

    process = sub.add_parser("process", help="new ratings CSV → seeded train/test split in staging",
                             formatter_class=fmt)
    cli.add_common_args(process)
    process.add_argument("--input", required=True, metavar="URI", help="CSV batch file(s): file, directory or glob")
    process.add_argument("--staging", required=True, metavar="URI", help="staging root (train/, test/)")
    process.add_argument("--test-fraction", type=cli.fraction, default=0.2)
    process.add_argument("--seed", type=int, default=42)
    process.add_argument("--max-batches", type=cli.positive_int, default=DEFAULT_MAX_BATCHES,
                         help="take at most this many batch files, the newest; the others wait for a later run")

    detect = sub.add_parser("detect", help="data and model drift → retrain decision", formatter_class=fmt)
    cli.add_common_args(detect)
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
    cli.add_common_args(merge)
    merge.add_argument("--staging", required=True, metavar="URI")
    merge.add_argument("--manifest", required=True, metavar="URI",
                       help="the process run's batch manifest; the staged data must belong to it")
    merge.add_argument("--train", required=True, metavar="URI")
    merge.add_argument("--test", required=True, metavar="URI")

    consume = sub.add_parser("consume", help="delete a manifest's batch files (after the retrain was promoted)",
                             formatter_class=fmt)
    cli.add_common_args(consume)
    consume.add_argument("--manifest", required=True, metavar="URI", help="batch manifest written by process")
    consume.add_argument("--incoming", required=True, metavar="URI",
                         help="where the batches live; only files under it are deleted")
    return parser


# --- process -------------------------------------------------------------------------------------------------

def select_batches(files: list[dict], max_batches: int) -> tuple[list[dict], list[dict]]:
    """(taken, pending): the newest ``max_batches`` files by modification time (then URI), each list by URI (pure)."""
    newest_first = sorted(files, key=lambda f: (f["modified"], f["uri"]), reverse=True)
    by_uri = lambda fs: sorted(fs, key=lambda f: f["uri"])  # noqa: E731
    return by_uri(newest_first[:max_batches]), by_uri(newest_first[max_batches:])


def manifest_body(manifest_id: str, input_uri: str, taken: list[dict], pending: list[dict], **extra) -> dict:
    """The batch manifest: every file a process run took (pure)."""
    return {"kind": MANIFEST_KIND, "id": manifest_id, "input": input_uri,
            "createdAt": datetime.now(timezone.utc).isoformat(), "count": len(taken),
            "bytes": sum(f["bytes"] for f in taken), "pendingBatches": len(pending),
            "files": [f["uri"] for f in taken], **extra}


def read_manifest(uri: str, argument: str = "--manifest") -> dict:
    if not uris.exists(uri):
        raise FileNotFoundError(f"argument {argument}: no batch manifest at {uri}")
    body = json.loads(uris.read_text(uri))
    if body.get("kind") != MANIFEST_KIND or not isinstance(body.get("files"), list):
        raise ValueError(f"argument {argument}: {uri} is not a {MANIFEST_KIND}")
    return body


def write_manifest(staging: str, body: dict) -> str:
    """Writes the manifest next to the staging data and prunes all but the newest ``MANIFESTS_KEPT``."""
    root = uris.join_uri(staging, MANIFESTS)
    uri = uris.join_uri(root, f"{body['id']}.json")
    uris.write_text(uri, json.dumps(body, indent=1, sort_keys=True))
    kept = sorted(n for n in uris.list_names(root) if n.endswith(".json") and not n.startswith("."))
    for name in kept[:-MANIFESTS_KEPT]:
        uris.delete(uris.join_uri(root, name), recursive=False)
    return uri


def read_batches(spark, files: list[str]) -> DataFrame:
    """CSV batches as strings; the header must be DATE,CUST_ID,MOVIE_ID,RATING (any case)."""
    df = spark.read.option("header", True).option("inferSchema", False).csv([uris.to_physical(f) for f in files])
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
    taken, pending = select_batches(uris.list_file_status(args.input), args.max_batches)
    ctx.counts.update({"batches": len(taken), "pendingBatches": len(pending)})
    if not taken:  # a fresh stage, or every batch consumed: a quiet run, not a failure
        ctx.extra["batchStatus"] = NO_NEW_BATCH
        ctx.counts.update({"valid": 0, "rejected": 0, "train": 0, "test": 0, "written": 0})
        ctx.outputs.update({"input": args.input, "manifest": None})
        return
    ctx.extra["batchStatus"] = NEW_BATCH
    # The manifest first: a staging pointer never names a manifest that is not there.
    manifest_uri = write_manifest(args.staging, manifest_body(datasets.new_version_id(), args.input, taken, pending,
                                                              staging=args.staging))
    raw = read_batches(spark, [f["uri"] for f in taken])
    parsed = parse_batch(raw).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts = parsed.groupBy("valid").count().collect()
        valid_n = sum(r["count"] for r in counts if r["valid"])
        rejected_n = sum(r["count"] for r in counts if not r["valid"])
        if valid_n == 0:
            raise ValueError(f"argument --input: no valid ratings in the {len(taken)} batch file(s) at {args.input}")
        rejects = parsed.where(~F.col("valid")).select(
            netflix.source_uri(F.col("source_file")).alias("source_file"),
            F.concat_ws(",", "raw_date", "raw_customer", "raw_movie", "raw_rating").alias("raw_line"))
        rejects_uri = datasets.write_dataset(rejects.coalesce(1), uris.join_uri(args.staging, "rejects"),
                                             manifest=manifest_uri)
        ratings = dedupe_batch(parsed.where("valid")).persist(StorageLevel.MEMORY_AND_DISK)
        train, test = split(ratings, args.test_fraction, args.seed)
        extra = {"manifest": manifest_uri, "batches": len(taken), "seed": args.seed,
                 "testFraction": args.test_fraction}
        train_uri = datasets.write_dataset(train, uris.join_uri(args.staging, "train"), ["year", "month"], **extra)
        test_uri = datasets.write_dataset(test, uris.join_uri(args.staging, "test"), ["year", "month"], **extra)
        ratings.unpersist()
    finally:
        parsed.unpersist()
    n_train = datasets.read_dataset(spark, train_uri).count()  # the committed versions' file statistics
    n_test = datasets.read_dataset(spark, test_uri).count()
    ctx.counts.update({"valid": valid_n, "rejected": rejected_n, "train": n_train, "test": n_test,
                       "written": n_train + n_test})
    ctx.outputs.update({"train": train_uri, "test": test_uri, "rejects": rejects_uri, "manifest": manifest_uri,
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
        model = models.load_model(current_uri, role="rating")
        base_reg = evaluation.regression_metrics(evaluation.predictions(model, baseline))
        new_reg = evaluation.regression_metrics(evaluation.predictions(model, new))
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
    manifest = read_manifest(args.manifest)
    outputs = {}
    for name, target in (("train", args.train), ("test", args.test)):
        staged_root = uris.join_uri(args.staging, name)
        commits = datasets.history(spark, staged_root)
        staged_manifest = commits[0]["metadata"].get("manifest") if commits else None
        if staged_manifest != args.manifest:
            raise ValueError(f"argument --manifest: staging {name} ({staged_root}) holds the batches of "
                             f"{staged_manifest}, not of {args.manifest} (another process run replaced it)")
        staged = datasets.read_dataset(spark, datasets.version_ref(staged_root, commits[0]["version"]))
        # staging holds one row per key already (dedupe_batch): the batch wins every tie with the table
        incoming = staged.select(*netflix.RATING_COLUMNS, F.lit(0).cast("long").alias("_ordinal"))
        outputs[name], merged = netflix.merge_into(target, incoming, kind="netflix-ratings", manifest=args.manifest)
        ctx.counts[f"{name}Staged"] = staged.count()
        ctx.counts[f"{name}Written"] = merged["existing"] + merged["inserted"]
    ctx.counts["written"] = ctx.counts["trainWritten"] + ctx.counts["testWritten"]
    ctx.counts["batches"] = manifest["count"]
    # The batches stay in incoming: `consume` deletes them once the retrained model is promoted.
    ctx.outputs.update({"train": outputs["train"], "test": outputs["test"], "manifest": args.manifest})


# --- consume -------------------------------------------------------------------------------------------------

def batches_to_delete(files: list[str], incoming: str) -> tuple[list[str], list[str]]:
    """(under ``incoming``, outside it) of a manifest's files (pure; ``incoming`` may be a glob)."""
    root = uris.to_physical(uris.glob_root(incoming)).rstrip("/")
    inside = [f for f in files if uris.to_physical(f).startswith(root + "/")]
    return inside, [f for f in files if f not in set(inside)]


def consume(args, ctx: cli.JobContext) -> None:
    manifest = read_manifest(args.manifest)
    inside, outside = batches_to_delete(manifest["files"], args.incoming)
    if outside:
        raise ValueError(f"argument --incoming: {len(outside)} file(s) of {args.manifest} are not under "
                         f"{args.incoming}, e.g. {outside[0]}")
    deleted = 0
    for uri in inside:
        if uris.exists(uri):
            uris.delete(uri, recursive=False)
            deleted += 1
    ctx.counts.update({"batches": len(inside), "deletedBatches": deleted, "missingBatches": len(inside) - deleted})
    ctx.outputs.update({"manifest": args.manifest, "incoming": args.incoming})


ACTIONS = {"process": process, "detect": detect, "merge": merge, "consume": consume}


def main(args, ctx: cli.JobContext) -> None:
    ctx.extra["action"] = args.action
    ACTIONS[args.action](args, ctx)


def run(argv=None) -> int:
    return cli.run_job(JOB, build_parser, main, argv)


if __name__ == "__main__":
    sys.exit(run())
