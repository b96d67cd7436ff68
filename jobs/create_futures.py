"""Future ratings (Netflix text) → one CSV file ``DATE,CUST_ID,MOVIE_ID,RATING`` sorted by date, for stream simulation.

    spark-submit jobs/create_futures.py --input s3://lake/bronze/netflix/raw/future.txt \\
        --output s3://lake/gold/netflix/futures --result-uri …

Parsing is the ETL's lossless, split-aware parser; malformed lines are counted (``counts.rejected``) and skipped.
Rows are ordered by date, then customer, then movie (a total, reproducible order), written as a single CSV file
with a header in a new version of ``--output`` (``outputs.dataset`` = version dir, ``outputs.file`` = the CSV).
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


def build_parser():
    parser = cli.new_parser(JOB, __doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, type=cli.uri_list, metavar="URI[,URI…]",
                        help="Netflix-format future file(s)")
    parser.add_argument("--output", required=True, metavar="URI", help="futures dataset root (versioned)")
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
        version, version_uri = datasets.new_version_uri(args.output)
        # A global sort, then one partition: coalesce keeps the range partitions in order.
        try:
            (transform(classified).coalesce(1).write.mode("errorifexists").option("header", True)
             .csv(uris.to_physical(version_uri)))
        except BaseException:
            uris.delete(version_uri)  # the pointer still names the previous version
            raise
    finally:
        classified.unpersist()
    datasets.commit_version(args.output, version_uri, version, kind="netflix-futures", format="csv")
    datasets.prune_versions(args.output, datasets.DEFAULT_KEEP_VERSIONS)
    files = [f for f in uris.list_files(version_uri) if f.endswith(".csv")]
    ctx.counts.update({"valid": kinds.get("header", 0) + kinds.get("rating", 0), "rejected": kinds.get("rejected", 0),
                       "written": kinds.get("rating", 0)})
    ctx.outputs.update({"dataset": version_uri, "file": files[0] if files else None})


def run(argv=None) -> int:
    return cli.run_job(JOB, build_parser, main, argv)


if __name__ == "__main__":
    sys.exit(run())
