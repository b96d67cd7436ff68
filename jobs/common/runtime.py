"""Checks, before any Spark work, that a job runs on the interpreter and Spark its dependency archive was built for.

``npm run package`` records what it built the archive for in the artifact manifest (``builtFor``) and passes it to
the driver as environment variables (the manifest's ``sparkConf``, ``spark.emr-serverless.driverEnv.*``):
``EMRPIPE_BUILT_FOR_RELEASE``, ``EMRPIPE_BUILT_FOR_PYTHON`` (``3.11``) and ``EMRPIPE_BUILT_FOR_SPARK``
(``4.0.2``). Wheels built for CPython 3.11 do not load on another minor version, and a job packaged for another
release's Spark would fail somewhere in the middle of its work; this check fails at once, naming both sides.
A run without those variables (``python -m jobs.<name>``, tests) is not checked.
"""
from __future__ import annotations

import os
import re
import sys
from typing import Mapping

ENV_RELEASE = "EMRPIPE_BUILT_FOR_RELEASE"
ENV_PYTHON = "EMRPIPE_BUILT_FOR_PYTHON"
ENV_SPARK = "EMRPIPE_BUILT_FOR_SPARK"


class RuntimeMismatchError(RuntimeError):
    """The job runs on another Python or Spark than its dependency archive was built for."""


def _major_minor(version: str) -> str | None:
    match = re.match(r"^(\d+)\.(\d+)", version.strip())
    return f"{match.group(1)}.{match.group(2)}" if match else None


def _pyspark_version() -> str:
    import pyspark  # the module only: no JVM is started

    return pyspark.__version__


def check_runtime(environ: Mapping[str, str] | None = None, python_version: tuple[int, int] | None = None,
                  spark_version: str | None = None) -> None:
    """Raises :class:`RuntimeMismatchError` when the running Python (major.minor) or Spark (major.minor) is not the
    one the archive was built for. ``environ``/``python_version``/``spark_version`` default to this process's."""
    env = os.environ if environ is None else environ
    built_python = env.get(ENV_PYTHON)
    built_spark = env.get(ENV_SPARK)
    if not built_python and not built_spark:
        return
    release = env.get(ENV_RELEASE) or "an unnamed release"
    running_python = "%d.%d" % (python_version or sys.version_info[:2])
    problems = []
    if built_python and _major_minor(built_python) != running_python:
        problems.append(f"CPython {built_python} expected, this image runs CPython {running_python} ({sys.executable})")
    if built_spark:
        running_spark = spark_version if spark_version is not None else _pyspark_version()
        if _major_minor(built_spark) != _major_minor(running_spark):
            problems.append(f"Spark {built_spark} expected, this image runs Spark {running_spark}")
    if problems:
        raise RuntimeMismatchError(
            f"the job's dependency archive was built for {release} (CPython {built_python or '?'}, Spark "
            f"{built_spark or '?'}) but runs elsewhere: {'; '.join(problems)}. Package the artifacts for the "
            f"application's release and Python (npm run package -- --stage <stage>) and deploy again.")
