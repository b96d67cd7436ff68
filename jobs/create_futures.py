"""Future ratings (Netflix text) → one CSV file ``DATE,CUST_ID,MOVIE_ID,RATING`` sorted by date, for stream simulation.

    spark-submit jobs/create_futures.py --input s3://lake/bronze/netflix/raw/future.txt \\
        --output s3://lake/gold/netflix/futures --result-uri …

Parsing is the ETL's lossless, split-aware parser; malformed lines are counted (``counts.rejected``) and skipped.
Rows are ordered by date, then customer, then movie (a total, reproducible order), written as a single CSV file
with a header, ``<output>/futures-<id>.csv`` (``outputs.file``): Spark writes it under ``<output>/_staging/<id>/``
and it is moved into place in one step, so the file is complete or absent. The newest ``KEEP_FILES`` stay.
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as a script (spark-submit jobs/create_futures.py): make `jobs` importable
    import os as _os
    import sys as _sys

    _sys.path.insert(0, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))

import sys

from pyspark import StorageLevel
from pyspark.sql import DataFrame, functions as F

from jobs.common import cli, datasets, uris
from jobs.recommender import netflix

JOB = "create_futures"
PREFIX, STAGING, KEEP_FILES = "futures-", "_staging", 3


def build_parser():
    parser = cli.new_parser(JOB, __doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, type=cli.uri_list, metavar="URI[,URI…]",
                        help="Netflix-format future file(s)")
    parser.add_argument("--output", required=True, metavar="URI", help="directory of the futures CSV files")
    return parser


def transform(classified: DataFrame) -> DataFrame:
    """Classified Netflix lines → future CSV rows sorted by date (pure)."""
    return (classified.where(F.col("kind") == "rating")
            .select(F.date_format("date", "yyyy-MM-dd").alias("DATE"), F.col("customer_id").alias("CUST_ID"),
                    F.col("movie").alias("MOVIE_ID"), F.col("rating").alias("RATING"))
            .orderBy("DATE", "CUST_ID", "MOVIE_ID"))


def main(args, ctx: cli.JobContext) -> None:
    spark = ctx.spark
    classified = netflix.parse(netflix.read_lines(spark, args.input)).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        kinds = {r["kind"]: r["count"] for r in classified.groupBy("kind").count().collect()}
        version = datasets.new_version_id()
        staging = uris.join_uri(args.output, STAGING, version)
        target = uris.join_uri(args.output, f"{PREFIX}{version}.csv")
        try:
            # A global sort, then one partition: coalesce keeps the range partitions in order.
            (transform(classified).coalesce(1).write.mode("errorifexists").option("header", True)
             .csv(uris.to_physical(staging)))
            uris.rename(next(f for f in uris.list_files(staging) if f.endswith(".csv")), target)
        finally:
            uris.delete(staging)
    finally:
        classified.unpersist()
    older = sorted(n for n in uris.list_names(args.output) if n.startswith(PREFIX) and n.endswith(".csv"))
    for name in older[:-KEEP_FILES]:
        uris.delete(uris.join_uri(args.output, name))
    ctx.counts.update({"valid": kinds.get("header", 0) + kinds.get("rating", 0), "rejected": kinds.get("rejected", 0),
                       "written": kinds.get("rating", 0)})
    ctx.outputs.update({"dataset": target, "file": target})


def run(argv=None) -> int:
    return cli.run_job(JOB, build_parser, main, argv)


if __name__ == "__main__":
    sys.exit(run())
