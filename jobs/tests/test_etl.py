import datetime as dt
import glob
import gzip
import json
import os

import pytest
from pyspark.sql import Observation, functions as F

from jobs import etl
from jobs.common import datasets
from jobs.recommender import netflix

D = dt.date

SAMPLE = """\
7,3,2005-01-01
1:
101,3,2005-09-06
102,5,2005-05-13

103,x,2005-10-19
104,9,2005-12-26
105,4,2005-02-30
2:
101,4,2004-03-01
106,1,2005-06-15,extra
abc:
107,2,2005-07-07
3:
108,5,2005-08-08
109,2,2005-08-09
"""


def _write(tmp_path, name, text, gz=False):
    path = tmp_path / name
    if gz:
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return str(path)


def _run(tmp_path, inputs, out="ratings", max_bytes=None, extra=()):
    result = tmp_path / "result.json"
    argv = ["--input", ",".join(inputs), "--output", str(tmp_path / out), "--rejects", str(tmp_path / "rejects"),
            "--result-uri", str(result), *extra]
    if max_bytes:
        argv += ["--max-partition-bytes", str(max_bytes)]
    code = etl.run(argv)
    return code, json.loads(result.read_text())


def _rows(spark, uri):
    return sorted(tuple(r) for r in datasets.read_dataset(spark, uri)
                  .select("movie_id", "customer_id", "rating", "date", "year", "month").collect())


EXPECTED = [
    (1, 101, 3, D(2005, 9, 6), 2005, 9),
    (1, 102, 5, D(2005, 5, 13), 2005, 5),
    (2, 101, 4, D(2004, 3, 1), 2004, 3),
    (3, 108, 5, D(2005, 8, 8), 2005, 8),
    (3, 109, 2, D(2005, 8, 9), 2005, 8),
]
EXPECTED_REJECTS = [
    (1, "7,3,2005-01-01", netflix.NO_HEADER),
    (6, "103,x,2005-10-19", netflix.BAD_RATING),
    (7, "104,9,2005-12-26", netflix.RATING_OUT_OF_RANGE),
    (8, "105,4,2005-02-30", netflix.BAD_DATE),
    (11, "106,1,2005-06-15,extra", netflix.FIELD_COUNT),
    (12, "abc:", netflix.BAD_HEADER),
    (13, "107,2,2005-07-07", netflix.UNDER_BAD_HEADER),
]


@pytest.mark.parametrize("max_bytes", [None, 7, 23])
def test_etl_exact_rows_and_rejects_for_any_split_size(spark, tmp_path, max_bytes):
    src = _write(tmp_path, "train.txt", SAMPLE)
    code, result = _run(tmp_path, [src], max_bytes=max_bytes)
    assert code == 0, result
    assert _rows(spark, result["outputs"]["dataset"]) == EXPECTED
    rejects = datasets.read_dataset(spark, result["outputs"]["rejects"])
    assert sorted((r.line_number, r.raw_line, r.reason) for r in rejects.collect()) == EXPECTED_REJECTS
    assert {r.source_file for r in rejects.collect()} == {"file://" + src}
    non_blank = sum(1 for line in SAMPLE.splitlines() if line.strip())
    assert result["counts"]["valid"] + result["counts"]["rejected"] == non_blank
    data_files = glob.glob(os.path.join(result["outputs"]["dataset"].split("@")[0], "year=*", "month=*", "*.parquet"))
    assert result["counts"] == {"nonBlank": non_blank, "valid": 8, "rejected": 7, "headers": 3, "ratings": 5,
                                "existing": 0, "written": 5, "inserted": 5, "updated": 0,
                                "filesAdded": len(data_files), "filesRemoved": 0, "deletionVectorsAdded": 0}
    assert len(data_files) >= 4  # the five rows fall in four year/month partitions


def test_parse_tiny_splits_keeps_every_row_of_a_large_file(spark, tmp_path):
    movies, per_movie = 40, 25
    text = "".join(f"{m}:\n" + "".join(f"{c},{1 + (m + c) % 5},2005-01-{1 + c % 28:02d}\n"
                                        for c in range(1, per_movie + 1)) for m in range(1, movies + 1))
    src = _write(tmp_path, "big.txt", text)
    spark.conf.set("spark.sql.files.maxPartitionBytes", "64")
    try:
        lines = netflix.read_chunks(spark, [src])
        # ~40 movie chunks of ~400 bytes over 64-byte splits: every chunk spans several splits
        assert lines.rdd.getNumPartitions() > 100
        parsed = netflix.valid_ratings(netflix.parse(lines))
        got = sorted((r.movie_id, r.customer_id, r.rating, r.line_number) for r in parsed.collect())
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    expected = sorted((m, c, 1 + (m + c) % 5, (m - 1) * (per_movie + 1) + 1 + c)
                      for m in range(1, movies + 1) for c in range(1, per_movie + 1))
    assert got == expected


def test_etl_reads_gzip_and_several_files(spark, tmp_path):
    a = _write(tmp_path, "a.txt.gz", "1:\n101,3,2005-09-06\n", gz=True)
    b = _write(tmp_path, "b.txt", "101,2,2005-01-01\n2:\n101,4,2004-03-01\n")
    code, result = _run(tmp_path, [a, b], max_bytes=8)
    assert code == 0
    assert _rows(spark, result["outputs"]["dataset"]) == [(1, 101, 3, D(2005, 9, 6), 2005, 9),
                                                          (2, 101, 4, D(2004, 3, 1), 2004, 3)]
    rejects = datasets.read_dataset(spark, result["outputs"]["rejects"]).collect()
    assert [(r.source_file, r.line_number, r.reason) for r in rejects] == [("file://" + b, 1, netflix.NO_HEADER)]


def test_upsert_keeps_latest_date_then_incoming_then_last_line(spark):
    existing = spark.createDataFrame(
        [(1, 10, 3, D(2005, 1, 1), 2005, 1), (1, 11, 2, D(2005, 6, 1), 2005, 6), (1, 12, 5, D(2005, 3, 1), 2005, 3)],
        netflix.RATINGS_SCHEMA)
    incoming = spark.createDataFrame(
        [(1, 10, 4, D(2005, 2, 1), 2005, 2, "f", 1),   # newer date replaces the existing row
         (1, 11, 1, D(2005, 5, 1), 2005, 5, "f", 2),   # older date loses against the existing row
         (1, 12, 1, D(2005, 3, 1), 2005, 3, "f", 3),   # same date: the incoming batch wins
         (2, 10, 2, D(2005, 4, 1), 2005, 4, "f", 4),   # same date inside the batch: the later line wins
         (2, 10, 3, D(2005, 4, 1), 2005, 4, "f", 9)],
        netflix.RATINGS_SCHEMA + ", source_file string, line_number long")
    got = sorted(tuple(r) for r in netflix.upsert(existing, incoming).collect())
    assert got == [(1, 10, 4, D(2005, 2, 1), 2005, 2), (1, 11, 2, D(2005, 6, 1), 2005, 6),
                   (1, 12, 1, D(2005, 3, 1), 2005, 3), (2, 10, 3, D(2005, 4, 1), 2005, 4)]


def test_etl_upsert_and_idempotency(spark, tmp_path):
    first = _write(tmp_path, "first.txt", "1:\n101,3,2005-01-01\n102,4,2005-01-02\n")
    update = _write(tmp_path, "update.txt", "1:\n101,5,2005-02-01\n102,1,2004-12-31\n2:\n103,2,2005-03-03\n")
    assert _run(tmp_path, [first])[0] == 0
    code, once = _run(tmp_path, [update])
    assert code == 0
    expected = [(1, 101, 5, D(2005, 2, 1), 2005, 2), (1, 102, 4, D(2005, 1, 2), 2005, 1),
                (2, 103, 2, D(2005, 3, 3), 2005, 3)]
    assert _rows(spark, once["outputs"]["dataset"]) == expected
    assert once["counts"]["existing"] == 2 and once["counts"]["written"] == 3
    assert once["counts"]["inserted"] == 1 and once["counts"]["updated"] == 1
    code, twice = _run(tmp_path, [update])
    # the same batch again: nothing changes, nothing is committed, the result names the same version
    assert code == 0 and twice["outputs"]["dataset"] == once["outputs"]["dataset"]
    assert (twice["counts"]["inserted"], twice["counts"]["updated"], twice["counts"]["written"]) == (0, 0, 3)
    assert _rows(spark, str(tmp_path / "ratings")) == expected


def test_etl_failure_mid_merge_leaves_previous_dataset(spark, tmp_path, monkeypatch):
    first = _write(tmp_path, "first.txt", "1:\n" + "".join(f"{c},3,2005-0{1 + c % 9}-01\n" for c in range(1, 60)))
    code, before = _run(tmp_path, [first])
    assert code == 0
    before_rows = _rows(spark, before["outputs"]["dataset"])
    real_merge = datasets.merge_dataset

    def failing_merge(source, root, *args, **kwargs):
        # the MERGE's tasks write their files; the task holding customer 30 fails mid-write
        failing = source.repartition(4, "month").withColumn(
            "rating", F.when(F.col("customer_id") == 30, F.raise_error(F.lit("disk full"))).otherwise(F.col("rating")))
        return real_merge(failing, root, *args, **kwargs)

    monkeypatch.setattr(datasets, "merge_dataset", failing_merge)
    update = _write(tmp_path, "update.txt", "1:\n" + "".join(f"{c},5,2006-01-01\n" for c in range(1, 60)))
    code, failed = _run(tmp_path, [update])
    assert code == 1 and failed["status"] == "FAILED" and "disk full" in failed["error"]
    assert datasets.latest_version(spark, str(tmp_path / "ratings")) == 0
    assert before["outputs"]["dataset"] == str(tmp_path / "ratings") + "@v0"
    assert _rows(spark, str(tmp_path / "ratings")) == before_rows


def test_etl_bad_arguments_exit_2(tmp_path, capsys):
    assert etl.run(["--output", "x", "--rejects", "y", "--result-uri", str(tmp_path / "r.json")]) == 2
    assert "--input" in capsys.readouterr().err
    assert etl.run(["--input", "a", "--output", "x", "--rejects", "y", "--shuffle-partitions", "0",
                    "--result-uri", str(tmp_path / "r.json")]) == 2
    assert "--shuffle-partitions" in capsys.readouterr().err


def _dupes_text(movies, offset):
    """Movies repeated within a file: every (movie, customer) appears several times, some on the same date."""
    blocks = []
    for rep in range(3):
        for m in range(1, movies + 1):
            rows = "".join(f"{c},{1 + (m + c + rep + offset) % 5},2005-0{1 + (c + rep * (c % 2)) % 3}-01\n"
                           for c in range(1, 13))
            blocks.append(f"{m}:\n{rows}")
    return "".join(blocks)


@pytest.mark.parametrize("max_bytes", [None, 97])
def test_hashed_dedup_picks_the_tie_rule_rows_across_splits_and_files(spark, tmp_path, max_bytes):
    a = _write(tmp_path, "a.txt", _dupes_text(6, 0))
    b = _write(tmp_path, "b.txt", _dupes_text(6, 2))
    existing = spark.createDataFrame([(1, 1, 5, D(2005, 3, 1), 2005, 3), (2, 3, 4, D(2006, 1, 1), 2006, 1),
                                      (9, 9, 1, D(2004, 1, 1), 2004, 1)], netflix.RATINGS_SCHEMA)
    if max_bytes:
        spark.conf.set("spark.sql.files.maxPartitionBytes", str(max_bytes))
    try:
        source = netflix.NetflixInput(spark, [a, b])
        try:
            if max_bytes:
                assert source.chunks.rdd.getNumPartitions() > 10
            observed = Observation()
            hashed = sorted(tuple(r) for r in netflix.upsert(existing, source.ratings(), observation=observed).collect())
            counts = observed.get
        finally:
            source.unpersist()
        reference = sorted(tuple(r) for r in netflix.upsert(
            existing, netflix.valid_ratings(netflix.parse(netflix.read_chunks(spark, [a, b])))).collect())
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    assert hashed == reference
    assert counts == {"written": len(reference), "incoming": 2 * 3 * 6 * 12, "existing": 3}
    # the planted ties are decided by the later file (b) and, within it, by the last repetition
    assert (1, 2, 1 + (1 + 2 + 2 + 2) % 5, D(2005, 1 + (2 + 2 * 0) % 3, 1), 2005, 1 + (2 + 2 * 0) % 3) in hashed


def test_etl_counts_are_the_rows_written(spark, tmp_path):
    text = SAMPLE + _dupes_text(3, 1)
    src = _write(tmp_path, "train.txt", text)
    code, result = _run(tmp_path, [src], max_bytes=64)
    assert code == 0, result
    counts = result["counts"]
    assert counts["written"] == datasets.read_dataset(spark, result["outputs"]["dataset"]).count()
    assert counts["rejected"] == datasets.read_dataset(spark, result["outputs"]["rejects"]).count() == len(EXPECTED_REJECTS)
    assert counts["nonBlank"] == sum(1 for line in text.splitlines() if line.strip())
    assert counts["ratings"] == 5 + 3 * 3 * 12 and counts["headers"] == 3 + 9


def test_parse_rejects_dates_beyond_four_digit_years(spark, tmp_path):
    src = _write(tmp_path, "t.txt", "1:\n5,3,123456-1-1\n6,3,9999-12-31\n")
    code, result = _run(tmp_path, [src])
    assert code == 0, result
    assert _rows(spark, result["outputs"]["dataset"]) == [(1, 6, 3, D(9999, 12, 31), 9999, 12)]
    rejects = datasets.read_dataset(spark, result["outputs"]["rejects"]).collect()
    assert [(r.line_number, r.reason) for r in rejects] == [(2, netflix.BAD_DATE)]
