"""Shared pytest fixtures: ONE local SparkSession for the whole test session (tests must not stop it)."""
from __future__ import annotations

import os
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


@pytest.fixture(scope="session")
def spark():
    os.environ.setdefault("SPARK_SHUFFLE_PARTITIONS", "2")
    os.environ.setdefault("SPARK_DRIVER_MEMORY", "1g")
    from jobs.common.spark import get_spark

    session = get_spark("jobs-tests", {"spark.sql.adaptive.coalescePartitions.initialPartitionNum": "2",
                                        "spark.rdd.compress": "false",
                                        "spark.sql.autoBroadcastJoinThreshold": str(10 * 1024 * 1024)})
    yield session
    session.stop()


@pytest.fixture()
def local_s3(tmp_path, monkeypatch):
    """Maps s3://bucket/key to tmp_path/s3/bucket/key for the test (as the local runner does)."""
    root = tmp_path / "s3"
    root.mkdir()
    monkeypatch.setenv("LOCAL_S3_ROOT", str(root))
    return root
