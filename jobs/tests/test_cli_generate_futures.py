import csv
import json
import os
import subprocess
import sys

from jobs import create_futures, etl, generate
from jobs.tests.conftest import REPO_ROOT

FUTURE = "2:\n30,4,2005-09-01\n10,5,2005-07-02\n1:\n20,3,2005-07-02\n10,2,2005-08-15\nbad line\n"


def test_generate_planted_counts_and_malformed_lines_match_etl(spark, tmp_path):
    out = tmp_path / "gen"
    assert generate.run(["--output", str(out), "--movies", "20", "--customers", "50", "--ratings", "600",
                         "--malformed-fraction", "0.05", "--seed", "5", "--result-uri", str(tmp_path / "g.json")]) == 0
    planted = json.loads((out / "planted.json").read_text())
    assert planted["files"]["train"]["ratings"] == 480 and planted["files"]["test"]["ratings"] == 120
    assert planted["files"]["train"]["malformed"] == 24
    assert sorted(os.listdir(out / "stream")) == ["batch-clean.csv", "batch-drifted.csv"]
    with open(out / "stream" / "batch-clean.csv") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["DATE", "CUST_ID", "MOVIE_ID", "RATING"] and len(rows) == 61
    assert [r[0] for r in rows[1:]] == sorted(r[0] for r in rows[1:])
    assert etl.run(["--input", str(out / "train.txt"), "--output", str(tmp_path / "ds"), "--rejects",
                    str(tmp_path / "rej"), "--max-partition-bytes", "512", "--result-uri", str(tmp_path / "e.json")]) == 0
    counts = json.loads((tmp_path / "e.json").read_text())["counts"]
    assert counts["ratings"] == 480 and counts["rejected"] == 24 and counts["written"] == 480
    # Same seed, same data.
    again = tmp_path / "again"
    assert generate.run(["--output", str(again), "--movies", "20", "--customers", "50", "--ratings", "600",
                         "--malformed-fraction", "0.05", "--seed", "5", "--result-uri", str(tmp_path / "g2.json")]) == 0
    assert (again / "train.txt").read_text() == (out / "train.txt").read_text()


def test_create_futures_sorted_csv(tmp_path):
    src = tmp_path / "future.txt"
    src.write_text(FUTURE)
    assert create_futures.run(["--input", str(src), "--output", str(tmp_path / "futures"), "--result-uri",
                               str(tmp_path / "f.json")]) == 0
    result = json.loads((tmp_path / "f.json").read_text())
    assert result["counts"] == {"valid": 6, "rejected": 1, "written": 4}
    with open(result["outputs"]["file"].replace("file://", "")) as handle:
        rows = list(csv.reader(handle))
    assert rows == [["DATE", "CUST_ID", "MOVIE_ID", "RATING"], ["2005-07-02", "10", "2", "5"],
                    ["2005-07-02", "20", "1", "3"], ["2005-08-15", "10", "1", "2"], ["2005-09-01", "30", "2", "4"]]


def test_spark_submit_script_mode_keeps_submitted_conf(tmp_path):
    """The entry script runs under spark-submit as a plain file, and the job does not override spark-submit's conf."""
    src = tmp_path / "future.txt"
    src.write_text(FUTURE)
    spark_submit = os.path.join(os.path.dirname(sys.executable), "spark-submit")
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    proc = subprocess.run([spark_submit, "--master", "local[1]", "--conf", "spark.sql.shuffle.partitions=3",
                           "--conf", "spark.ui.enabled=false", os.path.join(REPO_ROOT, "jobs", "create_futures.py"),
                           "--input", str(src), "--output", str(tmp_path / "futures"),
                           "--result-uri", str(tmp_path / "f.json")],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "f.json").read_text())
    assert result["status"] == "SUCCEEDED" and result["counts"]["written"] == 4
    assert result["spark"]["master"] == "local[1]" and result["spark"]["shufflePartitions"] == "3"


def test_python_m_help_and_bad_arguments_exit_codes(tmp_path):
    for job in ("etl", "create_futures", "train", "evaluate", "drift", "generate"):
        proc = subprocess.run([sys.executable, "-m", f"jobs.{job}", "--help"], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0 and "usage:" in proc.stdout, job
    proc = subprocess.run([sys.executable, "-m", "jobs.train", "--train", "x", "--result-uri", str(tmp_path / "r")],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--model-root" in proc.stderr
