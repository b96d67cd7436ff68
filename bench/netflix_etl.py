"""Benchmark of the Netflix ETL (not a test). Prints one JSON document on stdout.

    flock /tmp/spark.lock .venv/bin/python bench/netflix_etl.py [--ratings 5000000] [--scale 10] [--quick]

1. Generates (and caches under --workdir) a Netflix-format file of ``--ratings`` ratings with jobs/generate.py,
   and one ``--scale`` times larger for the memory run.
2. Timing, in a fresh Spark process: bare ``spark.read.text(f).count()`` (best of two, after a warm-up), the
   ETL's parser alone (``parse(...)`` + count), the full ETL job (parse, rejects, upsert, versioned Parquet write),
   and a seed-style ETL (Python RDD line parser that carries the movie id per partition, ``createDataFrame``,
   dropDuplicates, partitioned write). Ratios: ETL / bare read, seed / ETL. Also the rows the seed-style parser
   loses (those before the first header of each input split).
3. Driver peak memory of the full ETL at 1x and ``--scale``x data, each in a fresh process on a
   ``local-cluster[1,2,2048]`` master (executors in their own JVM, as on a cluster; driver heap 1 GiB): Python
   driver peak RSS, driver JVM peak RSS (VmHWM) and the peak JVM old generation after GC — flat when nothing is
   collected to the driver.
``--quick``: 200 000 ratings and scale 10 (for CI smoke runs).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

MARKER = "BENCH_RESULT "
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def ensure_data(workdir: str, ratings: int) -> str:
    """Generated train.txt for ``ratings`` ratings (movies 2000, ~100 ratings per customer), cached."""
    out = os.path.join(workdir, f"netflix-{ratings}")
    path = os.path.join(out, "train.txt")
    if os.path.exists(os.path.join(out, "planted.json")):
        return path
    from jobs import generate

    customers = max(1000, ratings // 100)
    # test-fraction ~0 is not allowed; all ratings go to train.txt except a tiny test split
    generate.generate(out, movies=2000, customers=customers, ratings=int(ratings / 0.999) + 1, rank=5, sigma=0.8,
                      seed=11, test_fraction=0.001, malformed_fraction=0.0001, shift=0.0)
    return path


def _timed(fn):
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def seed_style_etl(spark, path: str, out: str) -> int:
    """The seed's approach: Python RDD parser with the movie id carried per partition, then a DataFrame write."""
    from pyspark.sql import functions as F

    def parse_partition(lines):
        movie = None
        for line in lines:
            line = line.strip()
            if not line:
                continue
            if line.endswith(":"):
                try:
                    movie = int(line[:-1])
                except ValueError:
                    movie = None
                continue
            if movie is None:
                continue  # the seed drops these rows: their header is in an earlier split
            parts = line.split(",")
            if len(parts) != 3:
                continue
            try:
                yield movie, int(parts[0]), int(parts[1]), parts[2]
            except ValueError:
                continue

    rdd = spark.sparkContext.textFile(path).mapPartitions(parse_partition)
    df = (spark.createDataFrame(rdd, "movie_id int, customer_id int, rating int, date_text string")
          .withColumn("date", F.try_to_timestamp("date_text", F.lit("yyyy-MM-dd")).cast("date"))
          .where(F.col("date").isNotNull() & F.col("rating").between(1, 5))
          .drop("date_text")
          .withColumn("year", F.year("date")).withColumn("month", F.month("date"))
          .dropDuplicates(["movie_id", "customer_id", "date"]))
    df.write.mode("overwrite").partitionBy("year", "month").parquet(out)
    return spark.read.parquet(out).count()


def child_timing(path: str) -> dict:
    from jobs import etl
    from jobs.common.spark import get_spark
    from jobs.recommender import netflix

    spark = get_spark("bench-netflix-etl")
    size = os.path.getsize(path)
    spark.read.text(path).count()  # warm-up (JIT, page cache)
    read_s = min(_timed(lambda: spark.read.text(path).count())[0] for _ in range(2))
    parse_s, kinds = _timed(lambda: {r["kind"]: r["count"] for r in
                                     netflix.parse(netflix.read_lines(spark, [path])).groupBy("kind").count().collect()})
    tmp = tempfile.mkdtemp(prefix="bench-etl-")
    try:
        result_uri = os.path.join(tmp, "result.json")
        etl_s, code = _timed(lambda: etl.run(["--input", path, "--output", os.path.join(tmp, "ratings"),
                                              "--rejects", os.path.join(tmp, "rejects"),
                                              "--result-uri", result_uri]))
        if code != 0:
            raise RuntimeError(f"etl failed with exit code {code}")
        counts = json.load(open(result_uri))["counts"]
        seed_s, seed_rows = _timed(lambda: seed_style_etl(spark, path, os.path.join(tmp, "seed")))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "inputBytes": size, "ratingsParsed": kinds.get("rating", 0),
        "partitions": spark.read.text(path).rdd.getNumPartitions(),
        "readTextCountSeconds": round(read_s, 3), "parseCountSeconds": round(parse_s, 3),
        "etlSeconds": round(etl_s, 3), "seedStyleEtlSeconds": round(seed_s, 3),
        "ratioEtlToReadCount": round(etl_s / read_s, 2), "ratioParseToReadCount": round(parse_s / read_s, 2),
        "speedupVsSeedStyle": round(seed_s / etl_s, 2),
        "etlWritten": counts["written"], "etlRejected": counts["rejected"],
        "seedStyleWritten": seed_rows, "seedStyleRowsLost": counts["written"] - seed_rows,
    }


def _vm_hwm_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def child_memory(path: str) -> dict:
    from jobs import etl
    from jobs.common.spark import get_spark

    spark = get_spark("bench-netflix-etl-memory")
    jvm = spark.sparkContext._jvm
    jvm_pid = int(jvm.java.lang.ProcessHandle.current().pid())
    pools = [p for p in jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans()
             if "Old Gen" in p.getName() or "Tenured" in p.getName()]
    peak = {"old_after_gc": 0}
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            for pool in pools:
                usage = pool.getCollectionUsage()
                if usage is not None:
                    peak["old_after_gc"] = max(peak["old_after_gc"], usage.getUsed())
            stop.wait(0.5)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    tmp = tempfile.mkdtemp(prefix="bench-etl-mem-")
    try:
        elapsed, code = _timed(lambda: etl.run(["--input", path, "--output", os.path.join(tmp, "ratings"),
                                                "--rejects", os.path.join(tmp, "rejects"),
                                                "--result-uri", os.path.join(tmp, "r.json")]))
        written = json.load(open(os.path.join(tmp, "r.json")))["counts"].get("written")
    finally:
        stop.set()
        thread.join()
        shutil.rmtree(tmp, ignore_errors=True)
    if code != 0:
        raise RuntimeError(f"etl failed with exit code {code}")
    return {"inputBytes": os.path.getsize(path), "written": written, "etlSeconds": round(elapsed, 3),
            "master": spark.conf.get("spark.master", None),
            "pythonDriverPeakRssMB": _vm_hwm_mb(os.getpid()),
            "jvmDriverPeakRssMB": _vm_hwm_mb(jvm_pid),
            "jvmOldGenAfterGcPeakMB": round(peak["old_after_gc"] / 2 ** 20, 1),
            "driverMemory": spark.conf.get("spark.driver.memory", None)}


def _cluster_env(workdir: str) -> dict:
    """Environment for a ``local-cluster`` master: the executors run in their own JVM, so the driver JVM's memory
    is the driver's alone. Needs a SPARK_HOME laid out like a distribution: a throwaway one linking pyspark's files."""
    import pyspark

    home = os.path.join(workdir, "spark-home")
    if not os.path.isdir(home):
        os.makedirs(home)
        root = os.path.dirname(pyspark.__file__)
        for entry in os.listdir(root):
            os.symlink(os.path.join(root, entry), os.path.join(home, entry))
    return dict(os.environ, SPARK_HOME=home, SPARK_MASTER="local-cluster[1,2,2048]",
                PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable, SPARK_DRIVER_MEMORY="1g")


def _run_child(kind: str, path: str, env: dict | None = None) -> dict:
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", kind, "--path", path],
                          capture_output=True, text=True, cwd=REPO, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} child failed:\n{proc.stderr[-4000:]}")
    lines = [line[len(MARKER):] for line in proc.stdout.splitlines() if line.startswith(MARKER)]
    if not lines:
        raise RuntimeError(f"{kind} child printed no result:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return json.loads(lines[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ratings", type=int, default=5_000_000, help="ratings in the 1x file")
    parser.add_argument("--scale", type=int, default=10, help="size multiplier of the memory run")
    parser.add_argument("--quick", action="store_true", help="200 000 ratings (smoke run)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "emrpipe-bench"))
    parser.add_argument("--output", default=None, help="also write the JSON here")
    parser.add_argument("--child", choices=["timing", "memory"], help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = child_timing(args.path) if args.child == "timing" else child_memory(args.path)
        print(MARKER + json.dumps(result), flush=True)
        return 0
    ratings = 200_000 if args.quick else args.ratings
    os.makedirs(args.workdir, exist_ok=True)
    gen_s, path = _timed(lambda: ensure_data(args.workdir, ratings))
    report = {"benchmark": "netflix_etl", "ratings": ratings, "cores": os.cpu_count(), "generateSeconds":
              round(gen_s, 1), "timing": _run_child("timing", path),
              "goals": {"ratioEtlToReadCount": "<= 1.5", "speedupVsSeedStyle": ">= 3", "memory": "flat 1x -> 10x"}}
    if not args.skip_memory:
        big = ensure_data(args.workdir, ratings * args.scale)
        env = _cluster_env(args.workdir)
        report["memory"] = {"1x": _run_child("memory", path, env), f"{args.scale}x": _run_child("memory", big, env)}
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
