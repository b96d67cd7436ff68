"""The lake's datasets as Delta tables: exact versions, time travel and expiry, atomic commits (a failed or killed
writer leaves the last commit), and the MERGE that rewrites only the files of changed keys."""
import datetime as dt
import glob
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from pyspark.sql import functions as F

from jobs.common import datasets
from jobs.recommender import netflix

D = dt.date


def _xs(spark, ref):
    return sorted(r.x for r in datasets.read_dataset(spark, ref).collect())


def _commits(root):
    return sorted(os.path.basename(f) for f in glob.glob(os.path.join(root, "_delta_log", "*.json")))


def test_versions_are_named_read_back_exactly_and_carry_the_writers_metadata(spark, local_s3):
    root = "s3://lake/silver/demo"
    assert datasets.read_dataset(spark, root, required=False) is None and datasets.latest_version(spark, root) is None
    first = datasets.write_dataset(spark.createDataFrame([(1,), (2,)], "x int"), root, kind="demo", batch=1)
    second = datasets.write_dataset(spark.createDataFrame([(3,)], "x int"), root, kind="demo", batch=2)
    assert (first, second) == (f"{root}@v0", f"{root}@v1")
    assert _xs(spark, first) == [1, 2] and _xs(spark, second) == [3] and _xs(spark, root) == [3]
    assert datasets.split_ref(second) == (root, 1) and datasets.split_ref(root + "/") == (root, None)
    newest = datasets.history(spark, root, limit=5)
    assert [c["version"] for c in newest] == [1, 0]  # vacuums are not versions
    assert newest[0]["metadata"]["batch"] == 2 and newest[0]["metadata"]["kind"] == "demo"
    assert newest[0]["operationMetrics"]["numOutputRows"] == 1
    assert sorted(n for n in os.listdir(local_s3 / "lake/silver/demo/_delta_log") if n.endswith(".json")) == [
        "00000000000000000000.json", "00000000000000000001.json"]
    with pytest.raises(FileNotFoundError):
        datasets.read_dataset(spark, "s3://lake/silver/nothing@v0")


def test_older_versions_stay_for_the_retention_and_expire_after_it(spark, tmp_path):
    root = str(tmp_path / "t")
    v0 = datasets.write_dataset(spark.createDataFrame([(1,), (2,)], "x int"), root)
    v1 = datasets.write_dataset(spark.createDataFrame([(3,)], "x int"), root, retention_days=7)
    assert _xs(spark, v0) == [1, 2]  # within a week: time travel
    props = {r["key"]: r["value"] for r in spark.sql(f"SHOW TBLPROPERTIES delta.`{root}`").collect()}
    assert props["delta.deletedFileRetentionDuration"] == "interval 7 days"
    assert props["delta.logRetentionDuration"] == "interval 7 days"
    datasets.write_dataset(spark.createDataFrame([(4,)], "x int"), root, retention_days=0)
    assert _xs(spark, root) == [4]
    for expired in (v0, v1):  # their files are vacuumed
        with pytest.raises(Exception, match="(?i)not exist|FileNotFound"):
            datasets.read_dataset(spark, expired).collect()


def test_a_failed_write_leaves_the_last_commit(spark, tmp_path):
    root = str(tmp_path / "t")
    datasets.write_dataset(spark.createDataFrame([(i,) for i in range(40)], "x int"), root)
    failing = (spark.createDataFrame([(i,) for i in range(100, 140)], "x int").repartition(4, "x")
               .withColumn("x", F.when(F.col("x") == 120, F.raise_error(F.lit("disk full"))).otherwise(F.col("x"))))
    with pytest.raises(Exception, match="disk full"):
        datasets.write_dataset(failing, root)
    assert _commits(root) == ["00000000000000000000.json"]
    assert _xs(spark, root) == list(range(40))


WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {repo!r})
    from jobs.tests.s3store import delta_conf
    from jobs.common.spark import get_spark
    from jobs.common import datasets
    from pyspark.sql import functions as F
    jars, props = delta_conf()
    spark = get_spark("killed-writer", {{"spark.jars": ",".join(jars), "spark.master": "local[1]", **props}})
    slow = F.udf(lambda x: (time.sleep(1.5) if x % 1000 == 0 else None, x)[1], "long")
    df = spark.range(0, 12000, numPartitions=12).select(slow("id").alias("x"))
    print("writing", flush=True)
    datasets.write_dataset(df, {root!r})
""")


def test_a_writer_killed_mid_commit_leaves_the_previous_version_readable(spark, tmp_path):
    root = str(tmp_path / "t")
    datasets.write_dataset(spark.createDataFrame([(i,) for i in range(7)], "x long"), root)
    before = set(glob.glob(os.path.join(root, "*.parquet")))
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    writer = subprocess.Popen([sys.executable, "-c", WRITER.format(repo=repo, root=root)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 240
        while len(set(glob.glob(os.path.join(root, "*.parquet"))) - before) < 2:  # tasks have written files
            assert writer.poll() is None and time.time() < deadline, "the writer ended before it was killed"
            time.sleep(0.1)
        os.killpg(writer.pid, signal.SIGKILL)
        writer.wait(30)
    finally:
        if writer.poll() is None:
            os.killpg(writer.pid, signal.SIGKILL)
    assert len(set(glob.glob(os.path.join(root, "*.parquet"))) - before) >= 2  # its files are there …
    assert _commits(root) == ["00000000000000000000.json"]  # … but no commit names them
    assert datasets.latest_version(spark, root) == 0
    assert _xs(spark, root) == list(range(7))


def _ratings(spark, rows):
    return spark.createDataFrame(rows, netflix.RATINGS_SCHEMA)


def _table_rows(spark, ref):
    return sorted(tuple(r) for r in datasets.read_dataset(spark, ref).select(*netflix.RATING_COLUMNS).collect())


def test_merge_touches_only_the_files_holding_changed_keys(spark, tmp_path):
    root = str(tmp_path / "ratings")
    months = [(2005, m) for m in range(1, 5)]  # four partitions, one file each
    existing = [(m, c, 3, D(y, m, 1), y, m) for y, m in months for c in range(1, 26)]
    datasets.write_dataset(_ratings(spark, existing).repartition(1), root, ["year", "month"])
    files_before = sorted(glob.glob(os.path.join(root, "year=*", "month=*", "*.parquet")))
    assert len(files_before) == 4
    incoming = spark.createDataFrame(
        [(2, 7, 5, D(2005, 2, 9), 2005, 2, 1),     # a later rating of a key in February's file
         (3, 8, 1, D(2005, 1, 1), 2005, 1, 2),     # older than the stored rating: no change
         (4, 9, 3, D(2005, 4, 1), 2005, 4, 3),     # the same rating on the same date: no change
         (9, 1, 4, D(2006, 1, 1), 2006, 1, 4)],    # a new key in a new partition
        netflix.RATINGS_SCHEMA + ", _ordinal long")
    ref, merged = netflix.merge_into(root, incoming)
    metrics = merged["commit"]["operationMetrics"]
    assert (merged["inserted"], merged["updated"], merged["existing"]) == (1, 1, 100)
    # February's file gets a deletion vector for its replaced row; nothing is rewritten or copied; the new files
    # hold the two changed rows only
    assert metrics["numTargetDeletionVectorsAdded"] == 1 and metrics["numTargetFilesRemoved"] == 0
    assert metrics["numTargetRowsCopied"] == 0 and metrics["numTargetFilesAdded"] == 2
    assert len(glob.glob(os.path.join(root, "deletion_vector_*.bin"))) == 1
    reference = sorted(tuple(r) for r in netflix.upsert(_ratings(spark, existing), incoming).collect())
    assert _table_rows(spark, ref) == reference
    # the same batch again changes nothing: no commit, the same version
    again, unchanged = netflix.merge_into(root, incoming)
    assert again == ref and unchanged["commit"] is None and (unchanged["inserted"], unchanged["updated"]) == (0, 0)
    assert all(os.path.exists(f) for f in files_before)
