"""Taxi medallion jobs: every cleaning rule on crafted rows, the features, and the jobs end to end."""
from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import pytest
from pyspark.sql import types as T

from jobs import taxi_features, taxi_preprocess
from jobs.common import datasets
from jobs.taxi_generate import write_months

SCHEMA = T.StructType([T.StructField(n, t) for n, t in taxi_preprocess.COLUMNS])
BASE = dict(VendorID=1, passenger_count=1, trip_distance=3.0, RatecodeID=1, store_and_fwd_flag="N", PULocationID=10,
            DOLocationID=20, payment_type=1, fare_amount=15.0, extra=0.5, mta_tax=0.5, tip_amount=3.0,
            tolls_amount=0.0, improvement_surcharge=1.0, total_amount=22.5, congestion_surcharge=2.5, airport_fee=0.0)


def trip(case: str, minutes: float = 15.0, pickup: datetime = datetime(2024, 1, 10, 8, 30), **overrides):
    row = {**BASE, "tpep_pickup_datetime": pickup, "tpep_dropoff_datetime": pickup + timedelta(minutes=minutes),
           **overrides}
    return case, row


CASES = [
    trip("ok"),
    trip("ok_duration_just_below_180", minutes=179.9),
    trip("ok_distance_60", trip_distance=60.0),
    trip("ok_fare_500", fare_amount=500.0),
    trip("ok_total_zero", total_amount=0.0),
    trip("missing_required_pickup", tpep_pickup_datetime=None),
    trip("missing_required_dropoff", tpep_dropoff_datetime=None),
    trip("missing_required_pu", PULocationID=None),
    trip("missing_required_do", DOLocationID=None),
    trip("outside_month", pickup=datetime(2023, 12, 31, 23, 50)),
    trip("duration_zero", minutes=0),
    trip("duration_negative", minutes=-5),
    trip("duration_180", minutes=180),
    trip("distance_zero", trip_distance=0.0),
    trip("distance_above_60", trip_distance=60.01),
    trip("fare_zero", fare_amount=0.0),
    trip("fare_negative", fare_amount=-4.0),
    trip("fare_above_500", fare_amount=500.01),
    trip("total_negative", total_amount=-0.01),
    trip("fill_nulls", passenger_count=None, RatecodeID=None, store_and_fwd_flag=None, extra=None, mta_tax=None,
         improvement_surcharge=None, congestion_surcharge=None, airport_fee=None),
    trip("clip_ratecode_high", RatecodeID=99),
    trip("clip_ratecode_low", RatecodeID=0),
    trip("clip_tip_high", fare_amount=10.0, tip_amount=100.0),
    trip("clip_tip_negative", tip_amount=-5.0),
]
EXPECTED_REASON = {
    "missing_required_pickup": "missing_required", "missing_required_dropoff": "missing_required",
    "missing_required_pu": "missing_required", "missing_required_do": "missing_required",
    "outside_month": "outside_month", "duration_zero": "duration_out_of_range",
    "duration_negative": "duration_out_of_range", "duration_180": "duration_out_of_range",
    "distance_zero": "distance_out_of_range", "distance_above_60": "distance_out_of_range",
    "fare_zero": "fare_out_of_range", "fare_negative": "fare_out_of_range", "fare_above_500": "fare_out_of_range",
    "total_negative": "negative_total",
}


@pytest.fixture(scope="module")
def cleaned(spark):
    rows = [[case] + [row[n] for n, _ in taxi_preprocess.COLUMNS] for case, row in CASES]
    df = spark.createDataFrame(rows, T.StructType([T.StructField("case", T.StringType())] + SCHEMA.fields))
    return {r["case"]: r for r in taxi_preprocess.clean(df, "2024-01").collect()}


@pytest.mark.parametrize("case", [c for c, _ in CASES])
def test_each_cleaning_rule(cleaned, case):
    assert cleaned[case]["reject_reason"] == EXPECTED_REASON.get(case)


def test_fills_and_clips_on_valid_rows(cleaned):
    filled = cleaned["fill_nulls"]
    assert filled["passenger_count"] == 1 and filled["RatecodeID"] == 1 and filled["store_and_fwd_flag"] == "N"
    assert all(filled[s] == 0.0 for s in taxi_preprocess.SURCHARGES)
    assert cleaned["clip_ratecode_high"]["RatecodeID"] == 6
    assert cleaned["clip_ratecode_low"]["RatecodeID"] == 1
    assert cleaned["clip_tip_high"]["tip_amount"] == 20.0
    assert cleaned["clip_tip_negative"]["tip_amount"] == 0.0
    assert cleaned["ok"]["trip_duration_min"] == pytest.approx(15.0)
    # Rejected rows keep their raw values (for the rejects dataset).
    assert cleaned["fare_negative"]["fare_amount"] == -4.0


def test_row_features(spark):
    rows = [[n] + [row[c] for c, _ in taxi_preprocess.COLUMNS] for n, (_, row) in enumerate([
        trip("monday_peak", pickup=datetime(2024, 1, 1, 8, 0)),                  # Monday 08:00
        trip("saturday_night", pickup=datetime(2024, 1, 6, 23, 0), trip_distance=0.5, DOLocationID=10),
        trip("long_trip", pickup=datetime(2024, 1, 3, 13, 0), trip_distance=12.0, tolls_amount=6.0, total_amount=0.0),
    ])]
    df = spark.createDataFrame(rows, T.StructType([T.StructField("n", T.IntegerType())] + SCHEMA.fields))
    out = {r["n"]: r for r in taxi_features.row_features(df).collect()}
    monday, saturday, long_trip = out[0], out[1], out[2]
    assert (monday["pickup_dow"], monday["pickup_hour"], monday["is_peak"], monday["is_weekend"]) == (0, 8, True, False)
    assert (monday["pickup_day"], monday["pickup_week"], monday["pickup_month"], monday["pickup_year"]) == (1, 1, 1, 2024)
    assert monday["hour_sin"] == pytest.approx(math.sin(2 * math.pi * 8 / 24))
    assert monday["dow_cos"] == pytest.approx(1.0)
    assert (saturday["pickup_dow"], saturday["is_weekend"], saturday["is_night"], saturday["is_peak"]) == (5, True, True, False)
    assert saturday["is_short_trip"] and saturday["is_same_zone"] and saturday["route_id"] == "10_10"
    assert long_trip["is_long_trip"] and not long_trip["is_short_trip"] and not long_trip["is_night"]
    assert long_trip["log_distance"] == pytest.approx(math.log1p(12.0))
    assert long_trip["sqrt_distance"] == pytest.approx(math.sqrt(12.0))
    assert monday["fare_per_mile"] == pytest.approx(15.0 / 3.0)
    assert monday["surcharge_ratio"] == pytest.approx(4.5 / 22.5) and monday["toll_ratio"] == 0.0
    assert long_trip["toll_ratio"] is None and long_trip["surcharge_ratio"] is None  # zero total


def run(module, tmp_path, name, argv):
    result = tmp_path / f"{name}.json"
    code = module.cli([*argv, "--result-uri", str(result)])
    return code, json.loads(result.read_text()) if result.exists() else None


def test_preprocess_and_features_end_to_end(spark, local_s3, tmp_path):
    bronze, silver, rejects, gold = ("s3://lake/bronze/taxi/yellow", "s3://lake/silver/taxi/trips",
                                     "s3://lake/silver/taxi/rejects", "s3://lake/gold/taxi/features")
    write_months(str(local_s3 / "lake/bronze/taxi/yellow"), ["2024-01", "2024-02"], rows=1500, seed=11, dirty_fraction=0.08)
    args = ["--bronze", bronze, "--silver", silver, "--rejects", rejects, "--months", "2024-02,2024-01"]
    code, first = run(taxi_preprocess, tmp_path, "pre1", args)
    assert code == 0, first
    counts = first["counts"]
    assert counts["valid"] + counts["rejected"] == 3000
    assert 100 < counts["rejected"] < 400  # ~8 % dirty rows plus none of the valid ones
    assert sum(first["metrics"]["rejectReasons"].values()) == counts["rejected"]
    assert first["metrics"]["rejectReasons"]["outside_month"] > 0
    for month in ("2024-01", "2024-02"):
        part = datasets.read_dataset(spark, taxi_preprocess.silver_uri(silver, month))
        rej = datasets.read_dataset(spark, taxi_preprocess.silver_uri(rejects, month))
        assert part.count() == first["metrics"]["months"][month]["valid"]
        assert rej.count() == first["metrics"]["months"][month]["rejected"]
        assert part.filter("trip_duration_min <= 0 OR trip_duration_min >= 180 OR trip_distance <= 0 OR "
                           "trip_distance > 60 OR fare_amount <= 0 OR fare_amount > 500 OR total_amount < 0 OR "
                           "passenger_count IS NULL OR RatecodeID NOT BETWEEN 1 AND 6 OR "
                           "tip_amount > 2 * fare_amount").count() == 0
    # Re-running gives the same result (a new committed version of each month).
    code, again = run(taxi_preprocess, tmp_path, "pre2", args)
    assert code == 0 and again["counts"] == counts

    code, feats = run(taxi_features, tmp_path, "feat", ["--silver", silver, "--gold", gold,
                                                        "--months", "2024-01,2024-02"])
    assert code == 0, feats
    assert feats["counts"]["written"] == counts["valid"]
    jan = datasets.read_dataset(spark, taxi_preprocess.silver_uri(gold, "2024-01"))
    feb = datasets.read_dataset(spark, taxi_preprocess.silver_uri(gold, "2024-02"))
    both = jan.unionByName(feb)
    # Frequencies are over the whole requested range: identical in both months and equal to the range count.
    truth = {r["route_id"]: r["count"] for r in both.groupBy("route_id").count().collect()}
    for r in both.select("route_id", "route_trips").distinct().collect():
        assert r["route_trips"] == truth[r["route_id"]]
    pu_truth = {r["PULocationID"]: r["count"] for r in both.groupBy("PULocationID").count().collect()}
    for r in jan.select("PULocationID", "pickup_zone_trips").distinct().collect():
        assert r["pickup_zone_trips"] == pu_truth[r["PULocationID"]]
    assert jan.filter("pickup_month != 1").count() == 0 and feb.filter("pickup_month != 2").count() == 0


def test_missing_month_fails_naming_it_and_bad_months_are_rejected(spark, local_s3, tmp_path):
    bronze = "s3://lake/bronze/taxi/yellow"
    write_months(str(local_s3 / "lake/bronze/taxi/yellow"), ["2024-03"], rows=50, seed=1, dirty_fraction=0.0)
    code, result = run(taxi_preprocess, tmp_path, "missing", ["--bronze", bronze, "--silver", "s3://lake/s",
                                                              "--rejects", "s3://lake/r", "--months", "2024-03,2024-04"])
    assert code == 1 and result["status"] == "FAILED" and "2024-04" in result["error"]
    assert datasets.latest_version(spark, "s3://lake/s/year=2024/month=03") is None  # nothing written for 2024-03 either
    code, result = run(taxi_preprocess, tmp_path, "bad", ["--bronze", bronze, "--silver", "s3://lake/s",
                                                          "--rejects", "s3://lake/r", "--months", "2024-13"])
    assert code == 2 and "--months" in result["error"]
    code, result = run(taxi_features, tmp_path, "nosilver", ["--silver", "s3://lake/none", "--gold", "s3://lake/g",
                                                             "--months", "2024-03"])
    assert code == 1 and "2024-03" in result["error"]
