"""Benchmark of the Netflix ETL (not a test). Prints one JSON document on stdout.

    flock /tmp/spark.lock .venv/bin/python bench/netflix_etl.py [--ratings 3000000] [--scale 10] [--quick]

1. Generates (and caches under --workdir) a Netflix-format file of ``--ratings`` ratings with jobs/generate.py
   (2000 movies, or ratings / 1500 when more: 30 M ratings → 20 000 movies), and one ``--scale`` times larger.
2. Process walls at 1x and ``--scale``x, side by side: ``spark-submit --master local[2]`` with spark-submit's
   default driver memory (1 GiB) of (a) the floor — Spark's CSV reader parsing the rating rows (headers dropped,
   no header attribution, no dedup, no rejects) + a Parquet write partitioned by year/month — and (b) the ETL job
   (``jobs/etl.py``). Ratio ETL / floor; a process that dies is reported with its cause (``OutOfMemoryError`` …).
3. Timing in one Spark process: the full ETL job and a seed-style ETL (Python RDD line parser that carries the
   movie id per partition, ``createDataFrame``, dropDuplicates, partitioned write) on the same file. Ratio seed /
   ETL, and the rows the seed-style parser loses (those before the first header of each input split).
4. Driver peak memory of the full ETL at 1x and ``--scale``x data, each in a fresh process on a
   ``local-cluster[1,2,2048]`` master (executors in their own JVM, as on a cluster; driver heap 1 GiB): Python
   driver peak RSS, driver JVM peak RSS (VmHWM) and the peak JVM old generation after GC — flat when nothing is
   collected to the driver.
5. Upsert: the ``--scale``x file ETL'd into a table first, then two processes on the 1x file as the batch: its ETL into
   an empty table, and its upsert (MERGE) into the big table. Ratio upsert / batch alone: the cost follows the batch
   when the MERGE touches only the files of changed keys (file actions and ``inserted``/``updated`` reported).
``--quick``: 200 000 ratings and scale 10 (for CI smoke runs). ``--skip-process`` / ``--skip-memory`` /
``--skip-upsert`` skip 2 / 4 / 5. Every Spark process loads Delta Lake as a job run does (the lake's table format).
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


def movies_for(ratings: int) -> int:
    return max(2000, ratings // 1500)


def ensure_data(workdir: str, ratings: int) -> str:
    """Generated train.txt for ``ratings`` ratings (:func:`movies_for` movies, ~100 ratings per customer), cached."""
    movies = movies_for(ratings)
    out = os.path.join(workdir, f"netflix-{ratings}" + ("" if movies == 2000 else f"-m{movies}"))
    path = os.path.join(out, "train.txt")
    if os.path.exists(os.path.join(out, "planted.json")):
        return path
    from jobs import generate

    customers = max(1000, ratings // 100)
    # test-fraction ~0 is not allowed; all ratings go to train.txt except a tiny test split
    generate.generate(out, movies=movies, customers=customers, ratings=int(ratings / 0.999) + 1, rank=5, sigma=0.8,
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


def delta_conf() -> tuple[list[str], dict[str, str]]:
    from jobs.tests.s3store import delta_conf as conf

    return conf()


def child_timing(path: str) -> dict:
    from jobs import etl

    from jobs.tests.s3store import delta_spark

    spark = delta_spark("bench-netflix-etl")
    size = os.path.getsize(path)
    spark.read.text(path).count()  # warm-up (JIT, page cache)
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
        "inputBytes": size, "ratingsParsed": counts["ratings"],
        "partitions": spark.read.text(path).rdd.getNumPartitions(),
        "etlSeconds": round(etl_s, 3), "seedStyleEtlSeconds": round(seed_s, 3),
        "speedupVsSeedStyle": round(seed_s / etl_s, 2),
        "etlWritten": counts["written"], "etlRejected": counts["rejected"],
        "seedStyleWritten": seed_rows, "seedStyleRowsLost": counts["written"] - seed_rows,
    }


def floor_job(path: str, out: str) -> None:
    """The floor (run under spark-submit): CSV-parse the rating rows + Parquet write partitioned by year/month."""
    from pyspark.sql import SparkSession, functions as F

    spark = SparkSession.builder.appName("bench-netflix-floor").getOrCreate()
    rows = spark.read.schema("customer_id int, rating int, date date").csv(path)
    rows = rows.where(F.col("customer_id").isNotNull() & F.col("rating").isNotNull() & F.col("date").isNotNull())
    (rows.withColumn("year", F.year("date")).withColumn("month", F.month("date"))
     .write.partitionBy("year", "month").parquet(out))
    spark.stop()


def _submit(script_args: list[str]) -> dict:
    """One ``spark-submit --master local[2]`` process with spark-submit's default driver memory: wall, exit, cause."""
    import pyspark

    home = os.path.dirname(os.path.abspath(pyspark.__file__))
    env = dict(os.environ, SPARK_HOME=home, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    env.pop("PYSPARK_GATEWAY_PORT", None)
    jars, props = delta_conf()
    command = [os.path.join(home, "bin", "spark-submit"), "--master", "local[2]", "--conf", "spark.ui.enabled=false",
               "--conf", "spark.ui.showConsoleProgress=false", "--jars", ",".join(jars),
               *[a for k, v in props.items() for a in ("--conf", f"{k}={v}")], *script_args]
    seconds, proc = _timed(lambda: subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env))
    out = {"wallSeconds": round(seconds, 2), "exitCode": proc.returncode}
    if proc.returncode != 0:
        text = proc.stdout + proc.stderr
        oom = [line.strip() for line in text.splitlines() if "OutOfMemoryError" in line]
        out["cause"] = (oom[0][:200] if oom else
                        next((line.strip()[:200] for line in reversed(text.splitlines()) if "Error" in line),
                             text.strip()[-200:]))
    return out


def process_walls(path: str) -> dict:
    """Floor and ETL processes on the same file, one after the other (same machine state)."""
    tmp = tempfile.mkdtemp(prefix="bench-etl-proc-")
    try:
        floor = _submit([os.path.abspath(__file__), "--child", "floor", "--path", path,
                         "--out", os.path.join(tmp, "floor")])
        etl = _etl_process(path, os.path.join(tmp, "ratings"), os.path.join(tmp, "rejects"),
                           os.path.join(tmp, "result.json"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ok = floor["exitCode"] == 0 and etl["exitCode"] == 0
    return {"inputBytes": os.path.getsize(path), "ratings": None, "floor": floor, "etl": etl,
            "ratioEtlToFloor": round(etl["wallSeconds"] / floor["wallSeconds"], 2) if ok else None,
            "loadAverage": os.getloadavg()[0]}


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

    from jobs.tests.s3store import delta_spark

    spark = delta_spark("bench-netflix-etl-memory")
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


def _etl_process(path: str, table: str, rejects: str, result_uri: str) -> dict:
    out = _submit([os.path.join(REPO, "jobs", "etl.py"), "--input", path, "--output", table, "--rejects", rejects,
                   "--result-uri", result_uri])
    if os.path.exists(result_uri):
        result = json.load(open(result_uri))
        out["counts"] = result.get("counts")
        if result.get("status") == "FAILED" and "cause" not in out:
            out["cause"] = (result.get("error") or "")[:200]
    return out


def upsert_walls(batch: str, table_file: str) -> dict:
    """The batch's ETL into an empty table vs its upsert into the table of ``table_file`` (ETL'd first)."""
    tmp = tempfile.mkdtemp(prefix="bench-etl-upsert-")
    try:
        table = os.path.join(tmp, "table")
        setup = _etl_process(table_file, table, os.path.join(tmp, "rejects-setup"), os.path.join(tmp, "setup.json"))
        alone = _etl_process(batch, os.path.join(tmp, "empty"), os.path.join(tmp, "rejects-alone"),
                             os.path.join(tmp, "alone.json"))
        upsert = _etl_process(batch, table, os.path.join(tmp, "rejects-upsert"), os.path.join(tmp, "upsert.json"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ok = all(p["exitCode"] == 0 for p in (setup, alone, upsert))
    return {"tableRows": (setup.get("counts") or {}).get("written"), "batchRatings": (alone.get("counts") or {}).get(
            "ratings"), "setup": setup, "batchAlone": alone, "upsert": upsert,
            "ratioUpsertToBatchAlone": round(upsert["wallSeconds"] / alone["wallSeconds"], 2) if ok else None,
            "loadAverage": os.getloadavg()[0]}


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
    parser.add_argument("--ratings", type=int, default=3_000_000, help="ratings in the 1x file")
    parser.add_argument("--scale", type=int, default=10, help="size multiplier of the 10x runs")
    parser.add_argument("--quick", action="store_true", help="200 000 ratings (smoke run)")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-process", action="store_true")
    parser.add_argument("--skip-upsert", action="store_true")
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "emrpipe-bench"))
    parser.add_argument("--output", default=None, help="also write the JSON here")
    parser.add_argument("--child", choices=["timing", "memory", "floor"], help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child == "floor":
        floor_job(args.path, args.out)
        return 0
    if args.child:
        result = child_timing(args.path) if args.child == "timing" else child_memory(args.path)
        print(MARKER + json.dumps(result), flush=True)
        return 0
    ratings = 200_000 if args.quick else args.ratings
    os.makedirs(args.workdir, exist_ok=True)
    gen_s, path = _timed(lambda: ensure_data(args.workdir, ratings))
    big = (ensure_data(args.workdir, ratings * args.scale)
           if not (args.skip_memory and args.skip_process and args.skip_upsert) else None)
    report = {"benchmark": "netflix_etl", "ratings": ratings, "cores": os.cpu_count(), "generateSeconds":
              round(gen_s, 1), "timing": _run_child("timing", path),
              "goals": {"ratioEtlToFloor": "<= 1.5 (and no OOM where the floor runs)", "speedupVsSeedStyle": ">= 2",
                        "memory": "driver peak RSS 10x / 1x <= 1.2",
                        "ratioUpsertToBatchAlone": "<= 1.5 (cost follows the batch, not the table)"}}
    if not args.skip_process:
        report["process"] = {}
        for key, file, n in (("1x", path, ratings), (f"{args.scale}x", big, ratings * args.scale)):
            report["process"][key] = {**process_walls(file), "ratings": n}
    if not args.skip_upsert:
        report["upsert"] = upsert_walls(path, big)
    if not args.skip_memory:
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
