"""Shared pytest fixtures: ONE local SparkSession for the whole test session (tests must not stop it)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


@pytest.fixture(scope="session")
def s3_store(tmp_path_factory):
    """One S3 endpoint (S3Proxy) for the session; its buckets are directories under its root."""
    from jobs.tests.s3store import S3Store

    store = S3Store(str(tmp_path_factory.mktemp("s3")))
    yield store
    store.stop()


@pytest.fixture(scope="session")
def spark(s3_store):
    os.environ.setdefault("SPARK_SHUFFLE_PARTITIONS", "2")
    os.environ.setdefault("SPARK_DRIVER_MEMORY", "1g")
    from jobs.common.spark import JAVA_DEPS_JAR, get_spark
    from jobs.tests.s3store import delta_conf, s3a_jars

    delta_jars, delta_properties = delta_conf()
    jars = [j for j in [JAVA_DEPS_JAR] if os.path.isfile(j)] + s3a_jars() + delta_jars
    session = get_spark("jobs-tests", {"spark.sql.adaptive.coalescePartitions.initialPartitionNum": "2",
                                        "spark.rdd.compress": "false",
                                        "spark.jars": ",".join(jars), **delta_properties,
                                        "spark.sql.autoBroadcastJoinThreshold": str(10 * 1024 * 1024),
                                        **{f"spark.hadoop.{k}": v for k, v in s3_store.hadoop_conf().items()}})
    yield session
    session.stop()


@pytest.fixture()
def local_s3(s3_store, spark):
    """A clean S3 store for the test: ``s3://bucket/key`` is the file ``<returned root>/bucket/key``."""
    import shutil

    root = Path(s3_store.root)
    for child in root.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    for bucket in ("lake", "models", "bucket"):
        (root / bucket).mkdir()
    return root
