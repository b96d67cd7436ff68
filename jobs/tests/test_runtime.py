"""The job entry refuses an interpreter or Spark other than the dependency archive was built for (no Spark needed)."""
import json

import pytest

from jobs.common import cli
from jobs.common.runtime import ENV_PYTHON, ENV_RELEASE, ENV_SPARK, RuntimeMismatchError, check_runtime

BUILT = {ENV_RELEASE: "emr-spark-8.0.0", ENV_PYTHON: "3.11", ENV_SPARK: "4.0.2"}


def test_matching_runtime_passes_and_ignores_the_emr_build_suffix():
    check_runtime(BUILT, python_version=(3, 11), spark_version="4.0.2-amzn-0")


def test_no_build_information_means_no_check():
    check_runtime({}, python_version=(3, 9), spark_version="3.5.6")


def test_another_python_fails_naming_both_versions_and_the_release():
    with pytest.raises(RuntimeMismatchError) as err:
        check_runtime(BUILT, python_version=(3, 9), spark_version="4.0.2")
    message = str(err.value)
    assert "built for emr-spark-8.0.0" in message
    assert "CPython 3.11 expected, this image runs CPython 3.9" in message
    assert "Spark 4.0.2 expected" not in message


def test_another_spark_fails_naming_both_versions():
    with pytest.raises(RuntimeMismatchError, match=r"Spark 4\.0\.2 expected, this image runs Spark 3\.5\.6-amzn-2"):
        check_runtime(BUILT, python_version=(3, 11), spark_version="3.5.6-amzn-2")


def test_run_job_fails_before_main_with_a_failed_result(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_RELEASE, "emr-7.13.0")
    monkeypatch.setenv(ENV_PYTHON, "3.8")  # no interpreter of this suite is 3.8
    monkeypatch.delenv(ENV_SPARK, raising=False)
    calls = []
    result = tmp_path / "result.json"
    code = cli.run_job("probe", lambda: cli.new_parser("probe", "probe"), lambda args, ctx: calls.append(args),
                       ["--result-uri", str(result)])
    assert code == cli.EXIT_FAILED
    assert calls == []
    written = json.loads(result.read_text())
    assert written["status"] == "FAILED"
    assert written["error"].startswith("RuntimeMismatchError: the job's dependency archive was built for emr-7.13.0")
    assert "CPython 3.8 expected" in written["error"]
