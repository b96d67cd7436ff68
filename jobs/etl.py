"""ETL: Netflix Prize text files → the ratings table (upsert by Delta MERGE) + the rejects table.

    spark-submit jobs/etl.py --input s3://lake/bronze/netflix/raw/train.txt --output s3://lake/silver/netflix/ratings/train \\
        --rejects s3://lake/silver/netflix/rejects --result-uri s3://lake/runs/…/etl-train.json

Output: ``movie_id int, customer_id int, rating int, date date`` partitioned by ``year``/``month``, upserted on
(movie_id, customer_id) — latest date wins, see :func:`jobs.recommender.netflix.upsert` for the tie rule — by one
MERGE into the Delta table ``--output`` that marks the replaced rows deleted in place (deletion vectors) and writes
only the batch's changed rows (nothing is committed when no rating changes). Result counts: ``valid`` (valid lines: headers + ratings), ``rejected``, with valid +
rejected = non-blank lines; ``headers``, ``ratings``, ``existing`` (rows before the upsert), ``written`` (rows in
the committed table), ``inserted``/``updated`` (rows the MERGE added/replaced), ``filesAdded``/``filesRemoved``/``deletionVectorsAdded``
(the commit's file actions).
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as a script (spark-submit jobs/etl.py): make the `jobs` package importable
    import os as _os
    import sys as _sys

    _sys.path.insert(0, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))

import sys
from datetime import datetime, timezone

from pyspark.sql import DataFrame, Observation, functions as F

from jobs.common import cli, datasets
from jobs.common.log import get_logger
from jobs.recommender import netflix

JOB = "etl"
log = get_logger(f"jobs.{JOB}")


def build_parser():
    parser = cli.new_parser(JOB, __doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, type=cli.uri_list, metavar="URI[,URI…]",
                        help="Netflix-format text files, directories or globs (.gz accepted)")
    parser.add_argument("--output", required=True, metavar="URI", help="ratings table (Delta)")
    parser.add_argument("--rejects", required=True, metavar="URI", help="rejects table (Delta)")
    parser.add_argument("--shuffle-partitions", type=cli.positive_int, default=None, metavar="N",
                        help="spark.sql.shuffle.partitions for this job (default: the session's)")
    parser.add_argument("--max-partition-bytes", type=cli.positive_int, default=None, metavar="BYTES",
                        help="spark.sql.files.maxPartitionBytes (input split size)")
    return parser


def spark_conf(args) -> dict[str, str]:
    conf = {}
    if args.shuffle_partitions:
        conf["spark.sql.shuffle.partitions"] = str(args.shuffle_partitions)
    if args.max_partition_bytes:
        conf["spark.sql.files.maxPartitionBytes"] = str(args.max_partition_bytes)
    return conf


def transform(lines: DataFrame) -> DataFrame:
    """Positioned text lines → classified lines (pure; see :mod:`jobs.recommender.netflix`)."""
    return netflix.parse(lines)


def main(args, ctx: cli.JobContext) -> None:
    spark = ctx.spark
    run_at = datetime.now(timezone.utc)
    source = netflix.NetflixInput(spark, args.input)  # the cheap pass: small cached per-chunk tables
    try:
        # The one parse of the data feeds the batch's hash-aggregated dedup and the MERGE; counts come from the
        # MERGE's one pass over the batch and the commit's own metrics.
        dataset_uri, merged = netflix.merge_into(args.output, source.ratings(), kind="netflix-ratings")
        # Rejects: the boundary lines' plus the chunks that parse saw rejects in (usually few or none).
        written_rejects = Observation()
        rejects = (source.rejects().withColumn("ingested_at", F.lit(run_at)).repartition(1)
                   .observe(written_rejects, F.count(F.lit(1)).alias("rows")))
        rejects_uri = datasets.write_dataset(rejects, args.rejects, kind="netflix-rejects")
        rejected = int(written_rejects.get["rows"])
    finally:
        source.unpersist()
    headers, ratings = source.counts["headers"], merged["incoming"]
    ctx.counts.update({"nonBlank": headers + ratings + rejected, "valid": headers + ratings, "rejected": rejected,
                       "headers": headers, "ratings": ratings, "existing": merged["existing"],
                       "written": merged["existing"] + merged["inserted"], "inserted": merged["inserted"],
                       "updated": merged["updated"], **_file_counts(merged["commit"])})
    log.info("counts: %s", ctx.counts)
    ctx.outputs.update({"dataset": dataset_uri, "rejects": rejects_uri})


def _file_counts(commit: dict | None) -> dict[str, int]:
    """What the commit did to the table's files: data files added, removed (rewritten), and deletion vectors
    added (files whose replaced rows are marked deleted in place); zeros when nothing was committed."""
    metrics = (commit or {}).get("operationMetrics", {})
    return {"filesAdded": metrics.get("numTargetFilesAdded", metrics.get("numFiles", 0)),
            "filesRemoved": metrics.get("numTargetFilesRemoved", 0),
            "deletionVectorsAdded": metrics.get("numTargetDeletionVectorsAdded", 0)}


def run(argv=None) -> int:
    return cli.run_job(JOB, build_parser, main, argv, spark_conf=spark_conf)


if __name__ == "__main__":
    sys.exit(run())
