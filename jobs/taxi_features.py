"""Taxi silver → gold: trip features for the requested months.

extract   the committed silver dataset of every requested month (a missing month fails the job, naming it).
transform `features(df)` (pure):
            time        pickup_hour, pickup_dow (Monday = 0), pickup_day, pickup_week (ISO), pickup_month,
                        pickup_year; is_weekend, is_peak (07–10 h or 16–19 h), is_night (22–05 h)
            cyclical    hour_sin/hour_cos (24 h), dow_sin/dow_cos (7 days)
            distance    is_short_trip (< 1 mile), is_long_trip (> 10 miles), log_distance (log1p), sqrt_distance
            ratios      fare_per_mile (NULL at zero distance), surcharge_ratio and toll_ratio of total_amount
                        (NULL at zero total)
            location    route_id "PU_DO", is_same_zone, pickup_zone_trips, dropoff_zone_trips, route_trips —
                        counted over the WHOLE requested range (one aggregation over all months), so every
                        month of a run sees the same frequencies (not per monthly batch)
load      per month, atomically: `<gold>/year=YYYY/month=MM/` is a versioned dataset (new version + pointer swap);
          the pointer records the month range the frequencies were counted over.
"""
from __future__ import annotations

import math
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pyspark.sql import DataFrame, functions as F  # noqa: E402

from jobs.common import datasets  # noqa: E402
from jobs.common.cli import JobContext, new_parser, run_job  # noqa: E402
from jobs.common.log import get_logger  # noqa: E402
from jobs.taxi_preprocess import parse_months, silver_uri  # noqa: E402

JOB = "taxi_features"
log = get_logger(f"jobs.{JOB}")


def _ratio(numerator: F.Column, denominator: F.Column) -> F.Column:
    return F.when(denominator != 0, numerator / denominator)


def row_features(df: DataFrame) -> DataFrame:
    pickup = F.col("tpep_pickup_datetime")
    hour = F.hour(pickup)
    dow = (F.dayofweek(pickup) + 5) % 7  # Spark: Sunday = 1 … Saturday = 7 → Monday = 0 … Sunday = 6
    distance = F.col("trip_distance")
    surcharges = (F.col("extra") + F.col("mta_tax") + F.col("improvement_surcharge") + F.col("congestion_surcharge")
                  + F.col("airport_fee"))
    return df.select(
        "*",
        hour.alias("pickup_hour"), dow.alias("pickup_dow"), F.dayofmonth(pickup).alias("pickup_day"),
        F.weekofyear(pickup).alias("pickup_week"), F.month(pickup).alias("pickup_month"),
        F.year(pickup).alias("pickup_year"),
        (dow >= 5).alias("is_weekend"),
        (hour.between(7, 10) | hour.between(16, 19)).alias("is_peak"),
        ((hour >= 22) | (hour <= 5)).alias("is_night"),
        F.sin(2 * math.pi * hour / 24).alias("hour_sin"), F.cos(2 * math.pi * hour / 24).alias("hour_cos"),
        F.sin(2 * math.pi * dow / 7).alias("dow_sin"), F.cos(2 * math.pi * dow / 7).alias("dow_cos"),
        (distance < 1).alias("is_short_trip"), (distance > 10).alias("is_long_trip"),
        F.log1p(distance).alias("log_distance"), F.sqrt(distance).alias("sqrt_distance"),
        _ratio(F.col("fare_amount"), distance).alias("fare_per_mile"),
        _ratio(surcharges, F.col("total_amount")).alias("surcharge_ratio"),
        _ratio(F.col("tolls_amount"), F.col("total_amount")).alias("toll_ratio"),
        F.concat_ws("_", F.col("PULocationID").cast("string"), F.col("DOLocationID").cast("string")).alias("route_id"),
        (F.col("PULocationID") == F.col("DOLocationID")).alias("is_same_zone"),
    )


def features(df: DataFrame) -> DataFrame:
    """Row features plus zone/route frequencies counted over all of `df` (the whole requested range)."""
    rows = row_features(df)
    pickup_counts = rows.groupBy("PULocationID").agg(F.count("*").alias("pickup_zone_trips"))
    dropoff_counts = rows.groupBy("DOLocationID").agg(F.count("*").alias("dropoff_zone_trips"))
    route_counts = rows.groupBy("route_id").agg(F.count("*").alias("route_trips"))
    return (rows.join(F.broadcast(pickup_counts), "PULocationID", "left")
            .join(F.broadcast(dropoff_counts), "DOLocationID", "left")
            .join(route_counts, "route_id", "left"))


def read_silver(spark, silver: str, months: list[str]) -> DataFrame:
    frames = []
    for month in months:
        df = datasets.read_dataset(spark, silver_uri(silver, month), required=False)
        if df is None:
            raise FileNotFoundError(f"month {month}: no committed silver dataset at {silver_uri(silver, month)} "
                                    "(run taxi_preprocess for it first)")
        frames.append(df.withColumn("_month", F.lit(month)))
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out


def build_parser():
    parser = new_parser(JOB, "Builds gold trip features from silver, month by month, with range-wide frequencies.")
    parser.add_argument("--silver", required=True, help="silver root (year=YYYY/month=MM datasets)")
    parser.add_argument("--gold", required=True, help="gold root (one versioned dataset per month)")
    parser.add_argument("--months", required=True, help="YYYY-MM[,YYYY-MM…]")
    return parser


def main(args, ctx: JobContext) -> None:
    months = parse_months(args.months)
    spark = ctx.spark
    gold = features(read_silver(spark, args.silver, months)).persist()
    per_month = {r["_month"]: r["n"] for r in gold.groupBy("_month").agg(F.count("*").alias("n")).collect()}
    counted_over = f"{months[0]}..{months[-1]}" if len(months) > 1 else months[0]
    partitions = {}
    for month in months:
        partitions[month] = datasets.write_dataset(gold.filter(F.col("_month") == month).drop("_month"),
                                                   silver_uri(args.gold, month), rows=per_month.get(month, 0),
                                                   month=month, frequenciesOver=months)
    routes = gold.select("route_id").distinct().count()
    gold.unpersist()
    total = sum(per_month.values())
    ctx.counts.update(valid=total, rejected=0, written=total)
    ctx.metrics.update(months={m: per_month.get(m, 0) for m in months}, distinctRoutes=routes,
                       frequenciesOver=counted_over)
    ctx.outputs.update(dataset=args.gold, partitions=partitions)


def cli(argv=None) -> int:
    return run_job(JOB, build_parser, main, argv)


if __name__ == "__main__":
    sys.exit(cli())
