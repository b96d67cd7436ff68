"""Synthetic NYC TLC yellow-trip files (the public schema and types) for tests and the demo.

Writes `<output>/year=YYYY/month=MM/yellow_tripdata_YYYY-MM.parquet` — the bronze layout the ingestion Lambda
produces — with realistic distributions and a controlled fraction of the dirty rows real files contain:
missing ids/timestamps, zero or huge distances, negative or huge fares, trips longer than 3 hours or ending
before they start, RatecodeID 99, NULL passenger_count / RatecodeID / store_and_fwd_flag / surcharges,
tips above twice the fare, and pickups outside the file's month.

    python -m jobs.taxi_generate --output /tmp/taxi/yellow --months 2024-01,2024-02
"""
from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timedelta

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jobs.common import uris  # noqa: E402

ZONES = 263
DIRTY_KINDS = ("null_pickup", "null_pu_location", "zero_distance", "huge_distance", "negative_fare", "huge_fare",
               "long_duration", "negative_duration", "negative_total", "outside_month")


def tlc_schema():
    import pyarrow as pa

    return pa.schema([
        ("VendorID", pa.int32()), ("tpep_pickup_datetime", pa.timestamp("us")),
        ("tpep_dropoff_datetime", pa.timestamp("us")), ("passenger_count", pa.int64()),
        ("trip_distance", pa.float64()), ("RatecodeID", pa.int64()), ("store_and_fwd_flag", pa.string()),
        ("PULocationID", pa.int32()), ("DOLocationID", pa.int32()), ("payment_type", pa.int64()),
        ("fare_amount", pa.float64()), ("extra", pa.float64()), ("mta_tax", pa.float64()),
        ("tip_amount", pa.float64()), ("tolls_amount", pa.float64()), ("improvement_surcharge", pa.float64()),
        ("total_amount", pa.float64()), ("congestion_surcharge", pa.float64()), ("Airport_fee", pa.float64()),
    ])


def generate_month(month: str, rows: int, seed: int = 42, dirty_fraction: float = 0.05):
    """A pyarrow Table of `rows` trips whose pickups fall in `month` (YYYY-MM), dirty rows included."""
    import pyarrow as pa

    year, mm = (int(x) for x in month.split("-"))
    rng = np.random.default_rng([seed, year, mm])
    start = datetime(year, mm, 1)
    end = datetime(year + (mm == 12), mm % 12 + 1, 1)
    span = (end - start).total_seconds()
    # Busy hours: mix of uniform times and evening/morning peaks.
    seconds = rng.uniform(0, span, rows)
    pickup = np.array([start + timedelta(seconds=float(s)) for s in seconds], dtype="datetime64[us]")
    distance = np.round(rng.gamma(1.6, 1.9, rows) + 0.1, 2)
    minutes = np.clip(distance * rng.uniform(2.5, 5.5, rows) + rng.uniform(1, 6, rows), 1, 170)
    dropoff = pickup + (minutes * 60e6).astype("timedelta64[us]")
    pu = rng.integers(1, ZONES + 1, rows).astype(np.int32)
    # A few busy routes so that route counts are informative.
    busy = rng.random(rows) < 0.3
    pu[busy] = rng.choice([132, 138, 161, 236, 237], busy.sum())
    do = np.where(rng.random(rows) < 0.1, pu, rng.integers(1, ZONES + 1, rows)).astype(np.int32)
    fare = np.round(3.0 + distance * 2.5 + minutes * 0.5, 2)
    extra = rng.choice([0.0, 0.5, 1.0, 2.5], rows)
    mta = np.full(rows, 0.5)
    tip = np.round(np.where(rng.random(rows) < 0.7, fare * rng.uniform(0.1, 0.3, rows), 0.0), 2)
    tolls = np.where(rng.random(rows) < 0.05, 6.94, 0.0)
    improvement = np.full(rows, 1.0)
    congestion = rng.choice([0.0, 2.5], rows, p=[0.2, 0.8])
    airport = np.where(np.isin(pu, [132, 138]), 1.75, 0.0)
    passengers = rng.choice([1, 1, 1, 2, 3, 4, 5, 6], rows).astype(object)
    ratecode = np.where(np.isin(pu, [132]), 2, 1).astype(object)
    flag = np.where(rng.random(rows) < 0.01, "Y", "N").astype(object)
    columns = {
        "VendorID": rng.choice([1, 2], rows).astype(np.int32), "tpep_pickup_datetime": pickup.astype(object),
        "tpep_dropoff_datetime": dropoff.astype(object), "passenger_count": passengers, "trip_distance": distance,
        "RatecodeID": ratecode, "store_and_fwd_flag": flag, "PULocationID": pu.astype(object),
        "DOLocationID": do, "payment_type": rng.choice([1, 1, 1, 2, 3, 4], rows), "fare_amount": fare,
        "extra": extra.astype(object), "mta_tax": mta, "tip_amount": tip, "tolls_amount": tolls,
        "improvement_surcharge": improvement, "total_amount": None, "congestion_surcharge": congestion.astype(object),
        "Airport_fee": airport,
    }
    # Nulls that are filled (not rejected) by cleaning.
    for name, frac in (("passenger_count", 0.02), ("RatecodeID", 0.02), ("store_and_fwd_flag", 0.02),
                       ("extra", 0.01), ("congestion_surcharge", 0.01)):
        columns[name][rng.random(rows) < frac] = None
    ratecode_99 = rng.random(rows) < 0.005
    columns["RatecodeID"][ratecode_99] = 99
    big_tip = rng.random(rows) < 0.01
    tip[big_tip] = np.round(fare[big_tip] * 3, 2)

    dirty = np.flatnonzero(rng.random(rows) < dirty_fraction)
    kinds = rng.choice(DIRTY_KINDS, len(dirty))
    for i, kind in zip(dirty, kinds):
        if kind == "null_pickup":
            columns["tpep_pickup_datetime"][i] = None
        elif kind == "null_pu_location":
            columns["PULocationID"][i] = None
        elif kind == "zero_distance":
            distance[i] = 0.0
        elif kind == "huge_distance":
            distance[i] = 250.0
        elif kind == "negative_fare":
            fare[i] = -fare[i]
        elif kind == "huge_fare":
            fare[i] = 950.0
        elif kind == "long_duration":
            columns["tpep_dropoff_datetime"][i] = pickup[i] + np.timedelta64(5, "h")
        elif kind == "negative_duration":
            columns["tpep_dropoff_datetime"][i] = pickup[i] - np.timedelta64(10, "m")
        elif kind == "outside_month":
            shifted = pickup[i] - np.timedelta64(40, "D")
            columns["tpep_pickup_datetime"][i] = shifted
            columns["tpep_dropoff_datetime"][i] = shifted + np.timedelta64(12, "m")
    surcharges = (np.nan_to_num(np.array(columns["extra"], dtype=float)) + mta + improvement
                  + np.nan_to_num(np.array(columns["congestion_surcharge"], dtype=float)) + airport)
    total = np.round(fare + tip + tolls + surcharges, 2)
    negative_total = np.flatnonzero(np.isin(np.arange(rows), dirty[kinds == "negative_total"]))
    total[negative_total] = -abs(total[negative_total]) - 1
    columns["trip_distance"], columns["fare_amount"], columns["tip_amount"] = distance, fare, tip
    columns["total_amount"] = total
    schema = tlc_schema()
    return pa.table({name: pa.array(list(columns[name]) if isinstance(columns[name], np.ndarray)
                                     and columns[name].dtype == object else columns[name], type=schema.field(name).type)
                     for name in schema.names}, schema=schema)


def month_key(month: str) -> str:
    year, mm = month.split("-")
    return f"year={year}/month={mm}/yellow_tripdata_{month}.parquet"


def write_months(output: str, months: list[str], rows: int, seed: int, dirty_fraction: float) -> list[str]:
    import pyarrow.parquet as pq

    written = []
    for month in months:
        target = uris.local_path(uris.to_physical(uris.join_uri(output, month_key(month))))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = target + ".tmp"
        pq.write_table(generate_month(month, rows, seed, dirty_fraction), tmp)
        os.replace(tmp, target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jobs.taxi_generate", description=__doc__.split("\n")[0])
    parser.add_argument("--output", required=True, help="bronze root (a local directory)")
    parser.add_argument("--months", required=True, help="YYYY-MM[,YYYY-MM…]")
    parser.add_argument("--rows-per-month", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dirty-fraction", type=float, default=0.05)
    args = parser.parse_args(argv)
    months = [m.strip() for m in args.months.split(",") if m.strip()]
    for month in months:
        try:
            datetime.strptime(month, "%Y-%m")
        except ValueError:
            parser.error(f"argument --months: {month!r} is not YYYY-MM")
    if args.rows_per_month <= 0:
        parser.error("argument --rows-per-month: must be > 0")
    if not 0 <= args.dirty_fraction < 1:
        parser.error("argument --dirty-fraction: must be in [0, 1)")
    for path in write_months(args.output, months, args.rows_per_month, args.seed, args.dirty_fraction):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
