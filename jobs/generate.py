"""Generate synthetic Netflix-format data from a planted low-rank model plus Gaussian noise of stated sigma.

    python -m jobs.generate --output data/sample/netflix --ratings 30000 --result-uri /tmp/gen.json

Writes ``train.txt``, ``test.txt``, ``future.txt`` (Netflix text: ``<movie>:`` then ``cust,rating,date`` rows),
``stream/batch-clean.csv`` and, when ``--shift`` ≠ 0, ``stream/batch-drifted.csv`` (CSV
``DATE,CUST_ID,MOVIE_ID,RATING``) and ``planted.json`` (parameters and exact line counts). ``--malformed-fraction``
inserts that fraction of extra malformed lines into train.txt (the valid ratings stay the same). Runs without Spark
for local outputs; ``s3://`` outputs are uploaded through Hadoop's FileSystem.
"""
from __future__ import annotations

if __package__ in (None, ""):  # run as a script (spark-submit jobs/generate.py): make `jobs` importable
    import os as _os
    import sys as _sys

    _sys.path.insert(0, _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))

import json
import os
import shutil
import sys
import tempfile

import numpy as np

from jobs.common import cli, uris
from jobs.recommender import synthetic as syn

JOB = "generate"


def build_parser():
    parser = cli.new_parser(JOB, __doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, metavar="DIR", help="output directory (path, file:// or s3://)")
    parser.add_argument("--movies", type=cli.positive_int, default=100)
    parser.add_argument("--customers", type=cli.positive_int, default=500)
    parser.add_argument("--ratings", type=cli.positive_int, default=30000,
                        help="ratings in train+test (future and each stream batch get a tenth as many)")
    parser.add_argument("--rank", type=cli.positive_int, default=3, help="rank of the planted model")
    parser.add_argument("--sigma", type=cli.non_negative_float, default=0.6, help="noise standard deviation")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--test-fraction", type=cli.fraction, default=0.2)
    parser.add_argument("--malformed-fraction", type=cli.non_negative_float, default=0.0,
                        help="extra malformed lines in train.txt, as a fraction of its ratings")
    parser.add_argument("--shift", type=float, default=1.0,
                        help="rating shift of the drifted stream batch (0: no drifted batch)")
    structure = parser.add_argument_group("which ratings exist (all 0 = uniformly random pairs)")
    structure.add_argument("--popularity-skew", type=cli.non_negative_float, default=syn.Structure.popularity_skew,
                           help="Zipf exponent of movie popularity (long tail)")
    structure.add_argument("--taste-clusters", type=cli.non_negative_int, default=syn.Structure.taste_clusters,
                           help="groups of customers sharing a taste centroid")
    structure.add_argument("--selection", type=cli.non_negative_float, default=syn.Structure.selection,
                           help="how strongly taste drives which movies a customer rates")
    structure.add_argument("--activity-sigma", type=cli.non_negative_float, default=syn.Structure.activity_sigma,
                           help="log-normal spread of ratings per customer")
    return parser


def structure_of(args) -> syn.Structure:
    return syn.Structure(args.popularity_skew, args.taste_clusters, args.selection, args.activity_sigma)


def _write_netflix(path: str, movie_idx, cust_ids, ratings, dates, model, malformed=None) -> int:
    """Writes ratings grouped by movie; ``malformed`` maps a movie index to extra lines. Returns lines written."""
    order = np.lexsort((cust_ids, movie_idx))
    movie_idx, cust_ids, ratings, dates = movie_idx[order], cust_ids[order], ratings[order], dates[order]
    bounds = np.flatnonzero(np.diff(movie_idx)) + 1
    lines = 0
    with open(path, "w", encoding="ascii", buffering=1 << 20) as out:
        for chunk in np.split(np.arange(movie_idx.size), bounds):
            if chunk.size == 0:
                continue
            m = int(movie_idx[chunk[0]])
            rows = [f"{c},{r},{d}" for c, r, d in zip(cust_ids[chunk].tolist(), ratings[chunk].tolist(),
                                                     dates[chunk].tolist())]
            extra = (malformed or {}).get(m, [])
            for position, line in extra:
                rows.insert(min(position, len(rows)), line)
            out.write(f"{model.movie_ids[m]}:\n" + "\n".join(rows) + "\n")
            lines += 1 + len(rows)
    return lines


def _write_stream(path: str, movie_ids, cust_ids, ratings, dates) -> None:
    order = np.lexsort((movie_ids, cust_ids, dates))
    with open(path, "w", encoding="ascii") as out:
        out.write("DATE,CUST_ID,MOVIE_ID,RATING\n")
        out.writelines(f"{d},{c},{m},{r}\n" for d, c, m, r in zip(
            dates[order].tolist(), cust_ids[order].tolist(), movie_ids[order].tolist(), ratings[order].tolist()))


def generate(out_dir: str, movies=100, customers=500, ratings=30000, rank=3, sigma=0.6, seed=42,
             test_fraction=0.2, malformed_fraction=0.0, shift=1.0, structure: syn.Structure = syn.Structure()) -> dict:
    """Writes the files into local directory ``out_dir``; returns the planted.json content."""
    rng = np.random.default_rng(seed)
    model = syn.planted_model(movies, customers, rank, rng, structure)
    n_future = max(1, ratings // 10)
    cust_idx, movie_idx = syn.sample_structured_pairs(ratings + 3 * n_future, model, structure, rng)
    values = syn.observe(model, cust_idx, movie_idx, sigma, 0.0, rng)
    train_dates = syn.date_strings(syn.TRAIN_START, syn.TRAIN_DAYS)
    future_dates = syn.date_strings(syn.FUTURE_START, syn.FUTURE_DAYS)
    n_main = cust_idx.size - 3 * n_future
    n_test = int(round(n_main * test_fraction))
    parts = {"test": slice(0, n_test), "train": slice(n_test, n_main),
             "future": slice(n_main, n_main + n_future), "clean": slice(n_main + n_future, n_main + 2 * n_future),
             "drifted": slice(n_main + 2 * n_future, n_main + 3 * n_future)}
    os.makedirs(os.path.join(out_dir, "stream"), exist_ok=True)
    counts = {}

    # Malformed lines go into train.txt at random positions inside random movies' blocks.
    malformed: dict[int, list[tuple[int, str]]] = {}
    n_bad = int(round((parts["train"].stop - parts["train"].start) * malformed_fraction))
    for k in range(n_bad):
        template = syn.MALFORMED_TEMPLATES[k % len(syn.MALFORMED_TEMPLATES)]
        line = template.format(c=int(rng.integers(1, 10 ** 6)), r=int(rng.integers(1, 6)),
                               d=train_dates[int(rng.integers(0, train_dates.size))])
        malformed.setdefault(int(rng.integers(0, movies)), []).append((int(rng.integers(0, 50)), line))
    for name, dates_pool in (("train", train_dates), ("test", train_dates), ("future", future_dates)):
        sl = parts[name]
        dates = dates_pool[rng.integers(0, dates_pool.size, sl.stop - sl.start)]
        lines = _write_netflix(os.path.join(out_dir, f"{name}.txt"), movie_idx[sl],
                               model.customer_ids[cust_idx[sl]], values[sl], dates, model,
                               malformed if name == "train" else None)
        counts[name] = {"ratings": sl.stop - sl.start, "lines": lines,
                        "malformed": n_bad if name == "train" else 0}
    batches = [("clean", 0.0)] + ([("drifted", shift)] if shift else [])
    for name, batch_shift in batches:
        sl = parts[name]
        batch_values = syn.observe(model, cust_idx[sl], movie_idx[sl], sigma, batch_shift, rng)
        dates = future_dates[rng.integers(0, future_dates.size, sl.stop - sl.start)]
        _write_stream(os.path.join(out_dir, "stream", f"batch-{name}.csv"), model.movie_ids[movie_idx[sl]],
                      model.customer_ids[cust_idx[sl]], batch_values, dates)
        counts[f"stream-{name}"] = {"ratings": sl.stop - sl.start, "shift": batch_shift}
    planted = {"movies": movies, "customers": customers, "rank": rank, "sigma": sigma, "seed": seed,
               "shift": shift, "testFraction": test_fraction, "malformedFraction": malformed_fraction,
               "structure": structure.as_dict(),
               "files": counts}
    with open(os.path.join(out_dir, "planted.json"), "w") as handle:
        json.dump(planted, handle, indent=2, sort_keys=True)
        handle.write("\n")
    return planted


def main(args, ctx: cli.JobContext) -> None:
    if uris.is_local(args.output):
        target = uris.local_path(args.output)
        planted = generate(target, args.movies, args.customers, args.ratings, args.rank, args.sigma, args.seed,
                           args.test_fraction, args.malformed_fraction, args.shift, structure_of(args))
    else:
        staging = tempfile.mkdtemp(prefix="generate-")
        try:
            planted = generate(staging, args.movies, args.customers, args.ratings, args.rank, args.sigma,
                               args.seed, args.test_fraction, args.malformed_fraction, args.shift, structure_of(args))
            _upload_dir(ctx, staging, args.output)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    ctx.counts.update({name: info["ratings"] for name, info in planted["files"].items()})
    ctx.metrics["sigma"] = args.sigma
    ctx.outputs["directory"] = args.output


def _upload_dir(ctx: cli.JobContext, local_dir: str, target: str) -> None:
    spark = ctx.spark
    jvm = spark.sparkContext._jvm
    dest = jvm.org.apache.hadoop.fs.Path(uris.to_physical(target))
    fs = dest.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    for root, _, files in os.walk(local_dir):
        for name in files:
            src = os.path.join(root, name)
            rel = os.path.relpath(src, local_dir)
            fs.copyFromLocalFile(False, True, jvm.org.apache.hadoop.fs.Path("file://" + src),
                                 jvm.org.apache.hadoop.fs.Path(uris.to_physical(uris.join_uri(target, rel))))


def run(argv=None) -> int:
    return cli.run_job(JOB, build_parser, main, argv)


if __name__ == "__main__":
    sys.exit(run())
