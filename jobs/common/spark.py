"""The one SparkSession builder every job uses.

Under ``spark-submit`` (EMR Serverless, or a local ``spark-submit``) the submitter owns the configuration: this
module sets nothing that spark-submit or ``spark-defaults.conf`` may have set. When a job runs as a plain Python
process (``python -m jobs.<name>``, tests), it applies local defaults suited to a small machine: ``local[*]``,
few shuffle partitions, no UI, a 2 GiB driver, UTC session time zone. Environment overrides for local runs:
``SPARK_MASTER``, ``SPARK_DRIVER_MEMORY``, ``SPARK_SHUFFLE_PARTITIONS``.
"""
from __future__ import annotations

import os
import sys
from typing import Mapping

from pyspark.sql import SparkSession

# Set by spark-submit's PythonRunner for the Python driver it starts; absent in a plain Python process until
# pyspark launches its own gateway.
_UNDER_SPARK_SUBMIT = "PYSPARK_GATEWAY_PORT" in os.environ


def under_spark_submit() -> bool:
    return _UNDER_SPARK_SUBMIT


# The jobs' Java dependencies (PostgreSQL JDBC driver), built by `mvn -f java/pom.xml package` (scripts/setup.sh).
JAVA_DEPS_JAR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                             "artifacts", "java-deps.jar")


def local_defaults() -> dict[str, str]:
    extra = {"spark.jars": JAVA_DEPS_JAR} if os.path.isfile(JAVA_DEPS_JAR) else {}
    # Python workers (pandas UDFs / mapInPandas) must run the driver's interpreter (the venv), not `python3`;
    # PySpark reads PYSPARK_PYTHON when it creates the SparkContext.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    extra["spark.executorEnv.PYTHONPATH"] = os.pathsep.join(
        p for p in (os.path.dirname(os.path.dirname(JAVA_DEPS_JAR)), os.environ.get("PYTHONPATH")) if p)
    return {**extra,
        "spark.master": os.environ.get("SPARK_MASTER", "local[*]"),
        "spark.driver.memory": os.environ.get("SPARK_DRIVER_MEMORY", "2g"),
        "spark.sql.shuffle.partitions": os.environ.get("SPARK_SHUFFLE_PARTITIONS", "4"),
        "spark.default.parallelism": os.environ.get("SPARK_SHUFFLE_PARTITIONS", "4"),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.adaptive.enabled": "true",
        "spark.driver.extraJavaOptions": "-Dlog4j2.level=WARN",
    }


def get_spark(app_name: str, conf: Mapping[str, str] | None = None) -> SparkSession:
    """Returns the active SparkSession or builds one.

    ``conf`` holds settings the job itself needs (e.g. from its own CLI flags); they are applied in both modes
    because the job's caller asked for them explicitly.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        for key, value in (conf or {}).items():
            active.conf.set(key, str(value))
        return active
    builder = SparkSession.builder.appName(app_name)
    if not _UNDER_SPARK_SUBMIT:
        for key, value in local_defaults().items():
            builder = builder.config(key, value)
    for key, value in (conf or {}).items():
        builder = builder.config(key, str(value))
    spark = builder.getOrCreate()
    if not _UNDER_SPARK_SUBMIT:
        spark.sparkContext.setLogLevel(os.environ.get("SPARK_LOG_LEVEL", "WARN"))
    return spark
