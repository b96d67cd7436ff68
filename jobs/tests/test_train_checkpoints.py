"""ALS with many iterations: the lineage overflows a default JVM thread stack unless train checkpoints.

EMR Serverless runs its JVMs with the JDK's default thread stack (1 MiB on Linux x86_64); the DAG scheduler
serializes each ALS task with the factors' whole RDD lineage, which grows with every iteration. The realistic test
is a separate ``spark-submit`` of ``jobs/train.py`` whose driver JVM gets exactly that stack (``-Xss1m``) — the
shared test session cannot change its JVM options. The control run without ``--checkpoint-dir`` must overflow, so a
pass with checkpoints means the checkpoints cut the lineage, not that the stack happens to be larger here.
"""
import json
import os
import subprocess
import sys

import pyspark
import pytest

from jobs import train

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMR_DEFAULT_STACK = "-Xss1m"  # JDK 17 ThreadStackSize default on Linux x86_64 (aarch64: 2 MiB)
MAX_ITER = 60


@pytest.fixture(scope="module")
def ratings(spark, tmp_path_factory):
    """A tiny ratings dataset: 40 customers × 20 movies, about half rated."""
    root = tmp_path_factory.mktemp("ckpt")
    rows = [(m, c, 1 + (m * 7 + c * 3) % 5, "2005-01-01") for m in range(1, 21) for c in range(1, 41) if (m + c) % 2]
    spark.createDataFrame(rows, "movie_id int, customer_id int, rating int, date string") \
        .write.parquet(str(root / "ratings"))
    return root


def _spark_submit(root, name, *extra):
    spark_home = os.path.dirname(os.path.abspath(pyspark.__file__))
    env = {**os.environ, "SPARK_HOME": spark_home, "PYSPARK_PYTHON": sys.executable,
           "PYSPARK_DRIVER_PYTHON": sys.executable}
    env.pop("PYSPARK_GATEWAY_PORT", None)
    result_uri = str(root / f"{name}.json")
    command = [os.path.join(spark_home, "bin", "spark-submit"), "--master", "local[2]", "--driver-memory", "1g",
               "--conf", f"spark.driver.extraJavaOptions={EMR_DEFAULT_STACK}", "--conf", "spark.ui.enabled=false",
               "--conf", "spark.sql.shuffle.partitions=2",
               os.path.join(REPO_ROOT, "jobs", "train.py"), "--train", str(root / "ratings"),
               "--model-root", str(root / f"models-{name}"), "--rank", "2", "--max-iter", str(MAX_ITER),
               "--result-uri", result_uri, *extra]
    done = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    if not os.path.exists(result_uri):  # the JVM died before the job could write its result
        return done, None
    with open(result_uri) as handle:
        return done, json.load(handle)


def test_many_iterations_overflow_the_default_stack_without_checkpoints_and_train_with_them(ratings):
    control, failed = _spark_submit(ratings, "no-checkpoints")
    # The overflow either fails the job (task serialization: result FAILED, exit 1) or, thrown in a scheduler
    # thread, kills the driver JVM (Spark's uncaught-exception exit 50) before any result is written.
    assert control.returncode != 0 and (failed is None or failed["status"] == "FAILED")
    assert "StackOverflowError" in control.stdout + control.stderr

    checkpoints = ratings / "tmp" / "checkpoints" / "train"
    done, result = _spark_submit(ratings, "checkpoints", "--checkpoint-dir", str(checkpoints))
    assert done.returncode == 0 and result is not None, done.stderr[-3000:]
    assert "StackOverflowError" not in done.stdout + done.stderr
    assert result["status"] == "SUCCEEDED" and result["outputs"]["checkpointDir"] == str(checkpoints)
    with open(os.path.join(result["outputs"]["model"], "metadata.json")) as handle:
        assert json.load(handle)["params"]["maxIter"] == MAX_ITER
    # Spark checkpointed into a directory of its own under --checkpoint-dir; train removed it after the save
    assert checkpoints.is_dir() and os.listdir(checkpoints) == []


def test_checkpoint_interval_reaches_als_and_needs_a_positive_number(capsys):
    args = train.build_parser().parse_args(["--train", "t", "--model-root", "m", "--result-uri", "r",
                                            "--checkpoint-dir", "s3://lake/tmp/checkpoints/x/", "--checkpoint-interval", "4"])
    assert train.build_als(train.als_params(args), args).getCheckpointInterval() == 4
    defaults = train.build_parser().parse_args(["--train", "t", "--model-root", "m", "--result-uri", "r"])
    assert defaults.checkpoint_dir is None and train.build_als(train.als_params(defaults), defaults).getCheckpointInterval() == 10
    assert train.run(["--train", "t", "--model-root", "m", "--result-uri", "r", "--checkpoint-interval", "0"]) == 2
    assert "--checkpoint-interval" in capsys.readouterr().err
