"""train → evaluate → drift on planted synthetic data (one generated data set, one model, shared by the module)."""
import json
import math
import os
import shutil

import pytest

from jobs import drift, etl, evaluate, generate, train
from jobs.common import datasets

SIGMA = 1.0
K = 10
THRESHOLD = 4.0


def _result(path):
    with open(path) as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    raw = root / "raw"
    assert generate.run(["--output", str(raw), "--movies", "60", "--customers", "300", "--ratings", "12000",
                         "--rank", "3", "--sigma", str(SIGMA), "--seed", "3", "--shift", "1.5",
                         "--result-uri", str(root / "gen.json")]) == 0
    for name in ("train", "test"):
        assert etl.run(["--input", str(raw / f"{name}.txt"), "--output", str(root / name),
                        "--rejects", str(root / "rejects"), "--result-uri", str(root / f"etl-{name}.json")]) == 0
    assert train.run(["--train", str(root / "train"), "--model-root", str(root / "models"), "--rank", "5",
                      "--result-uri", str(root / "train.json")]) == 0
    return root


def test_train_writes_new_version_with_metadata(lake):
    result = _result(lake / "train.json")
    model_dir = result["outputs"]["model"]
    assert model_dir.startswith(str(lake / "models" / "versions") + "/")
    meta = _result(os.path.join(model_dir, "metadata.json"))
    assert meta["params"] == {"rank": 5, "regParam": 0.1, "maxIter": 15, "implicitPrefs": False,
                              "nonnegative": False, "coldStartStrategy": "drop", "seed": 42, "alpha": 1.0}
    assert meta["counts"]["rows"] == _result(lake / "etl-train.json")["counts"]["written"]
    assert meta["input"]["version"] == datasets.read_pointer(str(lake / "train"))["version"]
    assert result["counts"]["users"] == 300 and result["counts"]["items"] == 60


def test_train_never_overwrites_existing_versions(lake):
    first = _result(lake / "train.json")["outputs"]["model"]
    before = open(os.path.join(first, "metadata.json")).read()
    assert train.run(["--train", str(lake / "train"), "--model-root", str(lake / "models"), "--rank", "2",
                      "--max-iter", "2", "--result-uri", str(lake / "train2.json")]) == 0
    second = _result(lake / "train2.json")["outputs"]["model"]
    assert second != first
    assert open(os.path.join(first, "metadata.json")).read() == before
    assert len(os.listdir(lake / "models" / "versions")) == 2


@pytest.fixture(scope="module")
def evaluation(lake):
    model = _result(lake / "train.json")["outputs"]["model"]
    assert evaluate.run(["--model", model, "--train", str(lake / "train"), "--test", str(lake / "test"),
                         "--k", str(K), "--threshold", str(THRESHOLD), "--result-uri", str(lake / "eval.json")]) == 0
    return _result(lake / "eval.json")


def test_als_on_planted_data_reaches_noise_level(evaluation):
    assert evaluation["status"] == "SUCCEEDED"
    assert evaluation["metrics"]["rmse"] <= 1.1 * SIGMA
    assert evaluation["metrics"]["mae"] < evaluation["metrics"]["rmse"]
    assert evaluation["currentModelMetrics"] is None


def _brute_force_ranking(spark, lake, model_dir):
    """Scores every item for every user in plain Python and computes the metrics by their textbook definitions."""
    from pyspark.ml.recommendation import ALSModel

    model = ALSModel.load(os.path.join(model_dir, "model"))
    users = {r.id: r.features for r in model.userFactors.collect()}
    items = {r.id: r.features for r in model.itemFactors.collect()}
    train_rows = datasets.read_dataset(spark, str(lake / "train")).collect()
    test_rows = datasets.read_dataset(spark, str(lake / "test")).collect()
    seen, relevant = {}, {}
    for r in train_rows:
        seen.setdefault(r.customer_id, set()).add(r.movie_id)
    for r in test_rows:
        if r.rating >= THRESHOLD:
            relevant.setdefault(r.customer_id, set()).add(r.movie_id)
    precision, recall, ndcg, ap, ap_k = [], [], [], [], []
    for user, rel in relevant.items():
        if user not in users:
            continue
        scores = sorted(((sum(a * b for a, b in zip(users[user], f)), i) for i, f in items.items()
                         if i not in seen.get(user, set())), reverse=True)
        top = [i for _, i in scores[:K]]
        hits = [1 if i in rel else 0 for i in top]
        precision.append(sum(hits) / K)
        recall.append(sum(hits) / len(rel))
        dcg = sum(h / math.log(pos + 2) for pos, h in enumerate(hits))
        idcg = sum(1 / math.log(pos + 2) for pos in range(min(len(rel), K)))
        ndcg.append(dcg / idcg)
        running, precisions = 0, []
        for pos, h in enumerate(hits):
            if h:
                running += 1
                precisions.append(running / (pos + 1))
        ap.append(sum(precisions) / len(rel))
        ap_k.append(sum(precisions) / min(len(rel), K))
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    return {"precisionAtK": mean(precision), "recallAtK": mean(recall), "ndcgAtK": mean(ndcg), "map": mean(ap),
            "mapAtK": mean(ap_k), "rankedUsers": len(precision)}


def test_ranking_metrics_equal_brute_force_reference(spark, lake, evaluation):
    expected = _brute_force_ranking(spark, lake, evaluation["outputs"]["model"])
    got = evaluation["metrics"]
    assert got["rankedUsers"] == expected["rankedUsers"] > 200
    for name in ("precisionAtK", "recallAtK", "ndcgAtK", "map", "mapAtK"):
        assert got[name] == pytest.approx(expected[name], abs=1e-9), name
    assert 0 < got["precisionAtK"] < 1


def test_evaluate_reports_current_model_metrics(lake, evaluation):
    pointer = lake / "current.json"
    current_model = _result(lake / "train.json")["outputs"]["model"]
    pointer.write_text(json.dumps({"modelUri": current_model}))
    try:
        assert evaluate.run(["--model", current_model, "--train", str(lake / "train"), "--test", str(lake / "test"),
                             "--current-pointer", str(pointer), "--result-uri", str(lake / "eval2.json")]) == 0
    finally:
        pointer.unlink()
    current = _result(lake / "eval2.json")["currentModelMetrics"]
    assert current["modelUri"] == current_model
    assert current["rmse"] == pytest.approx(evaluation["metrics"]["rmse"])
    assert current["ndcgAtK"] == pytest.approx(evaluation["metrics"]["ndcgAtK"])


def _process(lake, batch, name):
    incoming = lake / f"incoming-{name}"
    incoming.mkdir()
    shutil.copy(lake / "raw" / "stream" / batch, incoming / batch)
    staging = lake / f"staging-{name}"
    assert drift.run(["process", "--input", str(incoming), "--staging", str(staging), "--seed", "7",
                      "--result-uri", str(lake / f"process-{name}.json")]) == 0
    return incoming, staging


def _detect(lake, staging, name):
    pointer = lake / "promoted.json"
    pointer.write_text(json.dumps({"modelUri": _result(lake / "train.json")["outputs"]["model"]}))
    assert drift.run(["detect", "--baseline-test", str(lake / "test"), "--new-test", str(staging / "test"),
                      "--current-pointer", str(pointer), "--result-uri", str(lake / f"detect-{name}.json")]) == 0
    return _result(lake / f"detect-{name}.json")


def test_drift_decision_false_for_clean_batch_and_true_for_drifted(lake):
    _, clean_staging = _process(lake, "batch-clean.csv", "clean")
    clean = _detect(lake, clean_staging, "clean")["decision"]
    assert clean["retrain"] is False, clean
    assert clean["score"] < 1.0 and clean["reasons"] == []
    assert clean["metrics"]["newRmse"] == pytest.approx(clean["metrics"]["baselineRmse"], rel=0.1)

    _, drifted_staging = _process(lake, "batch-drifted.csv", "drifted")
    drifted = _detect(lake, drifted_staging, "drifted")["decision"]
    assert drifted["retrain"] is True
    assert drifted["score"] > 1.0
    assert drifted["metrics"]["newMean"] > drifted["metrics"]["baselineMean"] + 0.4
    assert drifted["metrics"]["newRmse"] > 1.1 * drifted["metrics"]["baselineRmse"]
    assert any(r.startswith("score") for r in drifted["reasons"])
    assert any(r.startswith("rmseIncrease") for r in drifted["reasons"])


def test_process_split_is_deterministic_and_complete(spark, lake):
    result = _result(lake / "process-clean.json")
    planted = _result(lake / "raw" / "planted.json")
    counts = result["counts"]
    assert counts["valid"] == planted["files"]["stream-clean"]["ratings"] and counts["rejected"] == 0
    assert counts["train"] + counts["test"] == counts["valid"]
    assert 0.15 < counts["test"] / counts["valid"] < 0.25
    # Same input, same seed → exactly the same test rows.
    incoming = lake / "incoming-clean"
    assert drift.run(["process", "--input", str(incoming), "--staging", str(lake / "staging-again"), "--seed", "7",
                      "--result-uri", str(lake / "process-again.json")]) == 0
    again = _result(lake / "process-again.json")

    def rows(uri):
        return sorted(tuple(r) for r in spark.read.parquet(uri).collect())

    assert rows(again["outputs"]["test"]) == rows(result["outputs"]["test"])


def test_merge_upserts_then_deletes_consumed_batch_and_is_idempotent(spark, lake):
    incoming, staging = lake / "incoming-clean", lake / "staging-clean"
    (incoming / "arrived-later.csv").write_text("DATE,CUST_ID,MOVIE_ID,RATING\n2005-12-01,1,1,5\n")
    before_train = datasets.read_dataset(spark, str(lake / "train")).count()
    args = ["merge", "--staging", str(staging), "--train", str(lake / "train"), "--test", str(lake / "test"),
            "--incoming", str(incoming)]
    assert drift.run(args + ["--result-uri", str(lake / "merge.json")]) == 0
    merged = _result(lake / "merge.json")
    assert sorted(os.listdir(incoming)) == ["arrived-later.csv"]
    staged_train = merged["counts"]["trainStaged"]
    # Stream pairs are new (customer, movie) pairs or updates; the dataset grows by the new pairs only.
    assert before_train < merged["counts"]["trainWritten"] <= before_train + staged_train
    assert drift.run(args + ["--result-uri", str(lake / "merge2.json")]) == 0
    again = _result(lake / "merge2.json")

    def rows(uri):
        return sorted(tuple(r) for r in spark.read.parquet(uri).select(
            "movie_id", "customer_id", "rating", "date").collect())

    assert rows(again["outputs"]["train"]) == rows(merged["outputs"]["train"])
    assert rows(again["outputs"]["test"]) == rows(merged["outputs"]["test"])
    assert again["counts"]["deletedBatches"] == 0


def test_process_rejects_batch_with_wrong_header(lake):
    incoming = lake / "incoming-bad-header"
    incoming.mkdir()
    (incoming / "b.csv").write_text("CUST_ID,DATE,MOVIE_ID,RATING\n1,2005-01-01,1,5\n")
    assert drift.run(["process", "--input", str(incoming), "--staging", str(lake / "staging-bad"),
                      "--result-uri", str(lake / "bad.json")]) == 1
    result = _result(lake / "bad.json")
    assert result["status"] == "FAILED" and "DATE,CUST_ID,MOVIE_ID,RATING" in result["error"]
    assert not (lake / "staging-bad" / "train" / "_CURRENT").exists()


def test_drift_bad_arguments(lake, capsys):
    assert drift.run(["detect", "--baseline-test", "a", "--new-test", "b", "--current-pointer", "c",
                      "--weights", "1,2", "--result-uri", str(lake / "x.json")]) == 2
    assert "--weights" in capsys.readouterr().err
    assert drift.run(["explode", "--result-uri", str(lake / "x.json")]) == 2
