"""Benchmark of recommendation quality and tuning time (not a test). Prints one JSON document on stdout.

    flock /tmp/spark.lock .venv/bin/python bench/recommender_quality.py [--ratings 100000] [--real DIR] \\
        -- <train job arguments of the stage's default search>

On generated data with a catalogue's structure (jobs/generate.py defaults: popularity long tail, taste clusters;
MovieLens-100k's shape: 1 682 movies, 943 customers) and, with ``--real DIR`` (``train.txt`` + ``test.txt`` in
Netflix format, e.g. a public ratings set converted; never part of the repository), the same protocol as the
pipeline: ETL → train (the search the train step runs by default) → evaluate. Reports the ranking model's NDCG@10
against most-popular-unseen, the rating model's RMSE against the user/item bias, and the train step's wall time
(search + refits) — in this process, on this machine's cores.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def measure(raw_dir: str, work: str, train_args: list[str]) -> dict:
    from jobs import etl, evaluate, train
    from jobs.tests.s3store import delta_spark

    delta_spark("bench-recommender-quality")  # the jobs' session: the lake's tables are Delta, as on a job run

    for name in ("train", "test"):
        assert etl.run(["--input", os.path.join(raw_dir, f"{name}.txt"), "--output", os.path.join(work, name),
                        "--rejects", os.path.join(work, "rejects"),
                        "--result-uri", os.path.join(work, f"etl-{name}.json")]) == 0
    started = time.perf_counter()
    assert train.run(["--train", os.path.join(work, "train"), "--model-root", os.path.join(work, "models"),
                      "--result-uri", os.path.join(work, "train.json"), *train_args]) == 0
    train_seconds = time.perf_counter() - started
    trained = json.load(open(os.path.join(work, "train.json")))
    assert evaluate.run(["--model", trained["outputs"]["model"], "--train", os.path.join(work, "train"),
                         "--test", os.path.join(work, "test"), "--result-uri", os.path.join(work, "eval.json")]) == 0
    metrics = json.load(open(os.path.join(work, "eval.json")))["metrics"]
    base = metrics["baselines"]
    return {
        "trainRatings": trained["counts"]["rows"],
        "trainSeconds": round(train_seconds, 1),
        "models": {role: m["params"] for role, m in trained["models"].items()},
        "search": {role: {"objective": s["objective"], "candidates": s["candidates"], "best": s["best"]}
                   for role, s in (trained.get("tuning") or {}).items() if role in ("ranking", "rating")},
        "ndcgAtK": metrics["ndcgAtK"], "popularityNdcgAtK": base["popularity"]["ndcgAtK"],
        "ndcgLiftOverPopularity": metrics["lift"]["ndcgAtKVsPopularity"],
        "precisionAtK": metrics["precisionAtK"], "popularityPrecisionAtK": base["popularity"]["precisionAtK"],
        "rmse": metrics["rmse"], "biasRmse": base["bias"]["rmse"], "globalMeanRmse": base["globalMean"]["rmse"],
        "rmseOverBias": metrics["rmse"] / base["bias"]["rmse"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ratings", type=int, default=100_000)
    parser.add_argument("--movies", type=int, default=1682)
    parser.add_argument("--customers", type=int, default=943)
    parser.add_argument("--real", metavar="DIR", help="a held-out real set: DIR/train.txt and DIR/test.txt")
    parser.add_argument("train_args", nargs="*", help="train job arguments (after --)")
    args = parser.parse_args()
    os.environ.setdefault("SPARK_SHUFFLE_PARTITIONS", "4")
    from jobs import generate

    report: dict = {"benchmark": "recommender_quality", "cores": os.cpu_count(), "trainArgs": args.train_args}
    with tempfile.TemporaryDirectory(prefix="bench-rec-") as work:
        raw = os.path.join(work, "raw")
        # the ratings in train+test; generate also writes future/stream files the benchmark does not read
        generate.generate(raw, movies=args.movies, customers=args.customers, ratings=args.ratings, rank=8,
                          sigma=0.8, seed=101, test_fraction=0.2, shift=0.0)
        report["generated"] = {"ratings": args.ratings, "movies": args.movies, "customers": args.customers,
                               **measure(raw, os.path.join(work, "generated"), args.train_args)}
        if args.real:
            report["real"] = {"directory": args.real, **measure(args.real, os.path.join(work, "real"), args.train_args)}
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
