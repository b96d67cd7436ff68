"""Taxi bronze → silver: clean NYC TLC yellow-trip files month by month.

extract   `<bronze>/year=YYYY/month=MM/*.parquet` for each requested month (a missing month fails the job,
          naming the month — failures are never swallowed); column names/types normalised to one schema.
transform `clean(df, month)` (pure): every row gets `reject_reason` (NULL when valid), evaluated on the raw values:
            missing_required      pickup/dropoff time or PU/DO location id NULL
            outside_month         pickup not in the file's month
            duration_out_of_range trip duration not strictly between 0 and 180 minutes
            distance_out_of_range trip_distance not in (0, 60]
            fare_out_of_range     fare_amount not in (0, 500]
            negative_total        total_amount < 0
          valid rows are then filled (passenger_count → 1, RatecodeID → 1, surcharges → 0,
          store_and_fwd_flag → 'N') and clipped (RatecodeID to 1..6, tip_amount to [0, 2 × fare_amount]).
load      per month, atomically: `<silver>/year=YYYY/month=MM/` and `<rejects>/year=YYYY/month=MM/` are versioned
          datasets (new version + pointer swap), so a month is either entirely the new data or the old one.
"""
from __future__ import annotations

import os
import sys
from datetime import datetime

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pyspark.sql import DataFrame, functions as F, types as T  # noqa: E402

from jobs.common import datasets, uris  # noqa: E402
from jobs.common.cli import ArgumentError, JobContext, new_parser, run_job  # noqa: E402
from jobs.common.log import get_logger  # noqa: E402

JOB = "taxi_preprocess"
log = get_logger(f"jobs.{JOB}")

# Canonical silver schema (TLC names; Airport_fee/airport_fee unified as airport_fee).
COLUMNS: list[tuple[str, T.DataType]] = [
    ("VendorID", T.IntegerType()), ("tpep_pickup_datetime", T.TimestampNTZType()),
    ("tpep_dropoff_datetime", T.TimestampNTZType()), ("passenger_count", T.LongType()),
    ("trip_distance", T.DoubleType()), ("RatecodeID", T.LongType()), ("store_and_fwd_flag", T.StringType()),
    ("PULocationID", T.IntegerType()), ("DOLocationID", T.IntegerType()), ("payment_type", T.LongType()),
    ("fare_amount", T.DoubleType()), ("extra", T.DoubleType()), ("mta_tax", T.DoubleType()),
    ("tip_amount", T.DoubleType()), ("tolls_amount", T.DoubleType()), ("improvement_surcharge", T.DoubleType()),
    ("total_amount", T.DoubleType()), ("congestion_surcharge", T.DoubleType()), ("airport_fee", T.DoubleType()),
]
SURCHARGES = ["extra", "mta_tax", "improvement_surcharge", "congestion_surcharge", "airport_fee"]
REQUIRED = ["tpep_pickup_datetime", "tpep_dropoff_datetime", "PULocationID", "DOLocationID"]
MAX_DURATION_MIN, MAX_DISTANCE, MAX_FARE = 180.0, 60.0, 500.0
REJECT_REASONS = ["missing_required", "outside_month", "duration_out_of_range", "distance_out_of_range",
                  "fare_out_of_range", "negative_total"]


def parse_months(text: str) -> list[str]:
    months = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            datetime.strptime(part, "%Y-%m")
        except ValueError:
            raise ArgumentError("--months", f"{part!r} is not YYYY-MM") from None
        months.append(part)
    if not months:
        raise ArgumentError("--months", "needs at least one YYYY-MM")
    return sorted(set(months))


def month_partition(month: str) -> str:
    year, mm = month.split("-")
    return f"year={year}/month={mm}"


def normalise(df: DataFrame) -> DataFrame:
    """Select the canonical columns with canonical types; absent optional columns become NULL."""
    by_lower = {c.lower(): c for c in df.columns}
    missing_required = [c for c in REQUIRED if c.lower() not in by_lower]
    if missing_required:
        raise ValueError(f"bronze file lacks required columns: {', '.join(missing_required)}")
    cols = []
    for name, dtype in COLUMNS:
        source = by_lower.get(name.lower())
        cols.append((F.col(f"`{source}`") if source else F.lit(None)).cast(dtype).alias(name))
    return df.select(*cols)


def clean(df: DataFrame, month: str) -> DataFrame:
    """Adds trip_duration_min and reject_reason; fills and clips the valid rows. Pure."""
    year, mm = (int(x) for x in month.split("-"))
    duration = (F.unix_micros(F.col("tpep_dropoff_datetime").cast("timestamp"))
                - F.unix_micros(F.col("tpep_pickup_datetime").cast("timestamp"))) / 60e6
    missing = None
    for c in REQUIRED:
        missing = F.col(c).isNull() if missing is None else missing | F.col(c).isNull()
    reason = (F.when(missing, "missing_required")
              .when((F.year("tpep_pickup_datetime") != year) | (F.month("tpep_pickup_datetime") != mm), "outside_month")
              .when(~((duration > 0) & (duration < MAX_DURATION_MIN)), "duration_out_of_range")
              .when(F.col("trip_distance").isNull() | ~((F.col("trip_distance") > 0)
                                                         & (F.col("trip_distance") <= MAX_DISTANCE)),
                    "distance_out_of_range")
              .when(F.col("fare_amount").isNull() | ~((F.col("fare_amount") > 0)
                                                       & (F.col("fare_amount") <= MAX_FARE)), "fare_out_of_range")
              .when(F.col("total_amount").isNull() | (F.col("total_amount") < 0), "negative_total"))
    df = df.withColumn("trip_duration_min", duration).withColumn("reject_reason", reason)
    valid = F.col("reject_reason").isNull()

    def on_valid(column: F.Column, name: str) -> F.Column:
        return F.when(valid, column).otherwise(F.col(name)).alias(name)

    fills = {
        "passenger_count": F.coalesce("passenger_count", F.lit(1).cast("long")),
        "RatecodeID": F.least(F.greatest(F.coalesce("RatecodeID", F.lit(1).cast("long")), F.lit(1).cast("long")),
                              F.lit(6).cast("long")),
        "store_and_fwd_flag": F.coalesce("store_and_fwd_flag", F.lit("N")),
        "tip_amount": F.least(F.greatest(F.coalesce("tip_amount", F.lit(0.0)), F.lit(0.0)),
                              F.col("fare_amount") * 2),
        **{s: F.coalesce(s, F.lit(0.0)) for s in SURCHARGES},
    }
    return df.select(*[on_valid(fills[c], c) if c in fills else F.col(c) for c in df.columns])


def silver_uri(root: str, month: str) -> str:
    return uris.join_uri(root, month_partition(month))


def read_bronze_month(spark, bronze: str, month: str) -> DataFrame:
    location = uris.join_uri(bronze, month_partition(month))
    files = [f for f in (uris.list_files(location) if uris.exists(location) else []) if f.endswith(".parquet")]
    if not files:
        raise FileNotFoundError(f"month {month}: no Parquet file under {location}")
    df = spark.read.parquet(*[uris.to_physical(f) for f in files])
    return normalise(df.drop(*[c for c in df.columns if c in ("year", "month")]))


def build_parser():
    parser = new_parser(JOB, "Cleans TLC yellow-trip bronze files into the silver tier, month by month.")
    parser.add_argument("--bronze", required=True, help="bronze root holding year=YYYY/month=MM/")
    parser.add_argument("--silver", required=True, help="silver root (one versioned dataset per month)")
    parser.add_argument("--rejects", required=True, help="rejects root (one versioned dataset per month)")
    parser.add_argument("--months", required=True, help="YYYY-MM[,YYYY-MM…]")
    return parser


def main(args, ctx: JobContext) -> None:
    months = parse_months(args.months)
    spark = ctx.spark
    totals = {"valid": 0, "rejected": 0, "written": 0}
    reasons = {r: 0 for r in REJECT_REASONS}
    per_month, outputs = {}, {}
    # Every month must exist before any is written (a missing month fails the run, naming it).
    bronze_months = {month: read_bronze_month(spark, args.bronze, month) for month in months}
    for month in months:  # one month at a time: each is committed on its own
        cleaned = clean(bronze_months[month], month).persist()
        stats = {r["reject_reason"]: r["n"] for r in cleaned.groupBy("reject_reason").agg(F.count("*").alias("n"))
                 .collect()}
        valid = stats.pop(None, 0)
        rejected = sum(stats.values())
        silver = datasets.write_dataset(cleaned.filter("reject_reason IS NULL").drop("reject_reason"),
                                        silver_uri(args.silver, month), rows=valid, month=month)
        rejects = datasets.write_dataset(cleaned.filter("reject_reason IS NOT NULL"),
                                         silver_uri(args.rejects, month), rows=rejected, month=month)
        cleaned.unpersist()
        for reason, n in stats.items():
            reasons[reason] += n
        totals["valid"] += valid
        totals["rejected"] += rejected
        totals["written"] += valid
        per_month[month] = {"valid": valid, "rejected": rejected, "reasons": stats}
        outputs[month] = {"silver": silver, "rejects": rejects}
        log.info("month %s: %d valid, %d rejected %s", month, valid, rejected, stats)
    ctx.counts.update(totals)
    ctx.metrics.update(rejectReasons=reasons, months=per_month)
    ctx.outputs.update(dataset=args.silver, partitions=outputs)


def cli(argv=None) -> int:
    return run_job(JOB, build_parser, main, argv)


if __name__ == "__main__":
    sys.exit(cli())
