"""train → evaluate → drift on planted synthetic data (one generated data set, one model, shared by the module)."""
import json
import math
import os
import shutil

import pytest

from jobs import drift, etl, evaluate, generate, recommend, train
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


def test_train_writes_new_version_with_metadata(spark, lake):
    result = _result(lake / "train.json")
    model_dir = result["outputs"]["model"]
    assert model_dir.startswith(str(lake / "models" / "versions") + "/")
    meta = _result(os.path.join(model_dir, "metadata.json"))
    assert meta["params"] == {"rank": 5, "regParam": 0.1, "maxIter": 15, "implicitPrefs": False,
                              "nonnegative": False, "coldStartStrategy": "drop", "seed": 42, "alpha": 1.0}
    assert meta["counts"]["rows"] == _result(lake / "etl-train.json")["counts"]["written"]
    trained_on = datasets.latest_version(spark, str(lake / "train"))
    assert meta["input"]["version"] == trained_on and trained_on is not None
    assert meta["input"]["resolved"] == f"{lake / 'train'}@v{trained_on}"
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


def test_every_evaluation_carries_its_baselines_and_the_lift_over_them(evaluation):
    metrics = evaluation["metrics"]
    b = metrics["baselines"]
    # planted low-rank data: the model beats the global mean and the bias baseline on RMSE, popularity on NDCG
    assert b["globalMean"]["rmse"] > b["bias"]["rmse"] > metrics["rmse"]
    assert metrics["lift"]["rmseVsBias"] == pytest.approx(b["bias"]["rmse"] / metrics["rmse"])
    assert metrics["lift"]["ndcgAtKVsPopularity"] == pytest.approx(metrics["ndcgAtK"] / b["popularity"]["ndcgAtK"])
    assert 0 < b["popularity"]["precisionAtK"] < 1


def test_recommend_writes_top_k_unseen_items_per_user_ordered_by_score(spark, lake):
    from pyspark.ml.recommendation import ALSModel

    model_dir = _result(lake / "train.json")["outputs"]["model"]
    assert recommend.run(["--model", model_dir, "--train", str(lake / "train"), "--output", str(lake / "recs"),
                          "--k", "5", "--result-uri", str(lake / "recs.json")]) == 0
    result = _result(lake / "recs.json")
    rows = datasets.read_dataset(spark, str(lake / "recs")).collect()
    assert result["outputs"]["dataset"] == datasets.version_ref(str(lake / "recs"),
                                                                datasets.latest_version(spark, str(lake / "recs")))
    assert result["counts"] == {"rows": len(rows), "users": 300}
    model = ALSModel.load(os.path.join(model_dir, "model"))
    users = {r.id: r.features for r in model.userFactors.collect()}
    items = {r.id: r.features for r in model.itemFactors.collect()}
    seen = {}
    for r in datasets.read_dataset(spark, str(lake / "train")).collect():
        seen.setdefault(r.customer_id, set()).add(r.movie_id)
    by_user = {}
    for r in rows:
        by_user.setdefault(r.customer_id, []).append(r)
    for user, recs in by_user.items():
        recs.sort(key=lambda r: r.rank)
        assert [r.rank for r in recs] == list(range(1, len(recs) + 1))
        assert not {r.movie_id for r in recs} & seen.get(user, set())
        # brute force: the best 5 unseen items by the model's own dot product, in score order
        scores = sorted(((sum(a * b for a, b in zip(users[user], f)), i) for i, f in items.items()
                         if i not in seen.get(user, set())), key=lambda t: (-t[0], t[1]))
        assert [r.movie_id for r in recs] == [i for _, i in scores[:5]]
        assert [r.score for r in recs] == pytest.approx([s for s, _ in scores[:5]], rel=1e-5)
    assert len(by_user) == 300


@pytest.mark.parametrize("objective", ["rmse", "ndcgAtK"])
def test_tuning_picks_the_known_best_parameters_on_a_validation_split_of_the_training_data(lake, objective):
    # regParam 50 shrinks every factor to ~0 on the planted rank-3 data: any objective must prefer 0.05
    out = lake / f"tune-{objective}.json"
    assert train.run(["--train", str(lake / "train"), "--model-root", str(lake / "tuned"), "--rank", "3",
                      "--max-iter", "5", "--grid-reg-param", "50,0.05", "--grid-rank", "3",
                      "--tune-objective", objective, "--validation-fraction", "0.25", "--result-uri", str(out)]) == 0
    result = _result(out)
    assert result["tuning"]["objective"] == objective and result["tuning"]["candidates"] == 2
    assert result["tuning"]["best"]["params"]["regParam"] == 0.05
    meta = _result(os.path.join(result["outputs"]["model"], "metadata.json"))
    assert meta["params"]["regParam"] == 0.05  # the chosen parameters, refitted on all training ratings
    assert meta["tuning"]["grid"] == {"regParam": [50.0, 0.05], "rank": [3]}
    scores = {c["params"]["regParam"]: c["score"] for c in meta["tuning"]["candidates"]}
    better = (lambda a, b: a < b) if objective == "rmse" else (lambda a, b: a > b)
    assert better(scores[0.05], scores[50.0])
    assert meta["tuning"]["largerIsBetter"] is (objective != "rmse")


def test_tuning_bad_grid_is_rejected_naming_the_flag(lake, capsys):
    assert train.run(["--train", str(lake / "train"), "--model-root", str(lake / "tuned"),
                      "--grid-implicit-prefs", "maybe", "--result-uri", str(lake / "tune-bad.json")]) == 2
    assert "--grid-implicit-prefs" in capsys.readouterr().err


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
        return sorted(tuple(r) for r in datasets.read_dataset(spark, uri).collect())

    assert rows(again["outputs"]["test"]) == rows(result["outputs"]["test"])


def test_merge_upserts_keeps_the_batches_and_consume_deletes_only_the_manifest_files(spark, lake):
    incoming, staging = lake / "incoming-clean", lake / "staging-clean"
    (incoming / "arrived-later.csv").write_text("DATE,CUST_ID,MOVIE_ID,RATING\n2005-12-01,1,1,5\n")
    manifest = _result(lake / "process-clean.json")["outputs"]["manifest"]
    before_train = datasets.read_dataset(spark, str(lake / "train")).count()
    args = ["merge", "--staging", str(staging), "--manifest", manifest, "--train", str(lake / "train"),
            "--test", str(lake / "test")]
    assert drift.run(args + ["--result-uri", str(lake / "merge.json")]) == 0
    merged = _result(lake / "merge.json")
    # merge commits the datasets but consumes nothing: a retrain that is not promoted leaves every batch in place
    assert sorted(os.listdir(incoming)) == ["arrived-later.csv", "batch-clean.csv"]
    assert merged["counts"]["batches"] == 1 and merged["outputs"]["manifest"] == manifest
    staged_train = merged["counts"]["trainStaged"]
    # Stream pairs are new (customer, movie) pairs or updates; the dataset grows by the new pairs only.
    assert before_train < merged["counts"]["trainWritten"] <= before_train + staged_train
    assert drift.run(args + ["--result-uri", str(lake / "merge2.json")]) == 0
    again = _result(lake / "merge2.json")

    def rows(uri):
        return sorted(tuple(r) for r in datasets.read_dataset(spark, uri).select(
            "movie_id", "customer_id", "rating", "date").collect())

    assert rows(again["outputs"]["train"]) == rows(merged["outputs"]["train"])
    assert rows(again["outputs"]["test"]) == rows(merged["outputs"]["test"])

    # after promotion: consume deletes the manifest's files only (a batch that arrived later stays), idempotently
    consume = ["consume", "--manifest", manifest, "--incoming", str(incoming)]
    assert drift.run(consume + ["--result-uri", str(lake / "consume.json")]) == 0
    assert sorted(os.listdir(incoming)) == ["arrived-later.csv"]
    assert _result(lake / "consume.json")["counts"] == {"batches": 1, "deletedBatches": 1, "missingBatches": 0}
    assert drift.run(consume + ["--result-uri", str(lake / "consume2.json")]) == 0
    assert _result(lake / "consume2.json")["counts"] == {"batches": 1, "deletedBatches": 0, "missingBatches": 1}


def test_merge_refuses_staging_of_another_process_run(lake):
    other = _result(lake / "process-drifted.json")["outputs"]["manifest"]
    assert drift.run(["merge", "--staging", str(lake / "staging-clean"), "--manifest", other,
                      "--train", str(lake / "train-unused"), "--test", str(lake / "test-unused"),
                      "--result-uri", str(lake / "merge-other.json")]) == 1
    error = _result(lake / "merge-other.json")["error"]
    assert "argument --manifest" in error and "another process run" in error
    assert not (lake / "train-unused").exists()


def test_consume_refuses_a_manifest_with_files_outside_incoming(lake):
    manifest = _result(lake / "process-drifted.json")["outputs"]["manifest"]
    assert drift.run(["consume", "--manifest", manifest, "--incoming", str(lake / "incoming-clean"),
                      "--result-uri", str(lake / "consume-outside.json")]) == 1
    assert "argument --incoming" in _result(lake / "consume-outside.json")["error"]
    assert os.listdir(lake / "incoming-drifted") == ["batch-drifted.csv"]


def _batch_files(directory, n, rows=1):
    directory.mkdir(parents=True)
    for i in range(n):
        path = directory / f"batch-{i:05d}.csv"
        lines = [f"2005-12-{1 + i % 28:02d},{1 + i},{1 + r},{1 + (i + r) % 5}" for r in range(rows)]
        path.write_text("DATE,CUST_ID,MOVIE_ID,RATING\n" + "\n".join(lines) + "\n")
        os.utime(path, (1_700_000_000 + i, 1_700_000_000 + i))  # batch-00000 oldest


def test_process_result_stays_small_with_2000_batch_files(spark, tmp_path):
    incoming, staging = tmp_path / "incoming", tmp_path / "staging"
    _batch_files(incoming, 2000)
    assert drift.run(["process", "--input", str(incoming), "--staging", str(staging), "--max-batches", "2000",
                      "--result-uri", str(tmp_path / "process.json")]) == 0
    text = (tmp_path / "process.json").read_text()
    result = json.loads(text)
    # Step Functions keeps the result in the execution state (256 KiB for everything): counts and one URI only
    assert len(text.encode()) < 4096, len(text)
    assert "batch-00001.csv" not in text
    assert result["batchStatus"] == "NEW_BATCH"
    assert result["counts"]["batches"] == 2000 and result["counts"]["pendingBatches"] == 0
    assert result["counts"]["valid"] == 2000
    manifest = _result(result["outputs"]["manifest"])
    assert os.path.dirname(result["outputs"]["manifest"]) == str(staging / "manifests")
    assert manifest["count"] == 2000 and len(manifest["files"]) == 2000
    assert manifest["files"][0] == str(incoming / "batch-00000.csv")
    for name in ("train", "test"):
        assert datasets.history(spark, str(staging / name))[0]["metadata"]["manifest"] == result["outputs"]["manifest"]


def test_process_takes_the_newest_max_batches_and_leaves_the_rest_pending(tmp_path):
    incoming, staging = tmp_path / "incoming", tmp_path / "staging"
    _batch_files(incoming, 7, rows=20)
    assert drift.run(["process", "--input", str(incoming), "--staging", str(staging), "--max-batches", "3",
                      "--result-uri", str(tmp_path / "process.json")]) == 0
    result = _result(tmp_path / "process.json")
    assert result["counts"]["batches"] == 3 and result["counts"]["pendingBatches"] == 4
    manifest = _result(result["outputs"]["manifest"])
    assert [os.path.basename(f) for f in manifest["files"]] == ["batch-00004.csv", "batch-00005.csv", "batch-00006.csv"]
    assert manifest["pendingBatches"] == 4
    assert len(os.listdir(incoming)) == 7  # process never deletes


def test_select_batches_is_newest_first_and_stable():
    files = [{"uri": f"s3://l/in/{n}", "bytes": 1, "modified": m} for n, m in (("a", 3), ("b", 1), ("c", 3), ("d", 2))]
    taken, pending = drift.select_batches(files, 2)
    assert [f["uri"] for f in taken] == ["s3://l/in/a", "s3://l/in/c"]
    assert [f["uri"] for f in pending] == ["s3://l/in/b", "s3://l/in/d"]
    assert drift.select_batches([], 5) == ([], [])


def test_process_without_batch_files_succeeds_with_no_new_batch(local_s3, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    # a fresh stage: on S3 an empty incoming/ prefix does not exist at all; an empty directory; a glob matching nothing
    for name, incoming in (("s3", "s3://lake/bronze/netflix/stream/incoming/"), ("dir", str(empty)),
                           ("glob", str(empty / "*.csv"))):
        result_uri = str(tmp_path / f"process-{name}.json")
        staging = "s3://lake/silver/netflix/stream/staging/" if name == "s3" else str(tmp_path / f"staging-{name}")
        assert drift.run(["process", "--input", incoming, "--staging", staging, "--result-uri", result_uri]) == 0
        result = _result(result_uri)
        assert result["status"] == "SUCCEEDED" and result["batchStatus"] == "NO_NEW_BATCH", result
        assert result["counts"]["batches"] == 0 and result["outputs"]["manifest"] is None
    assert not (local_s3 / "lake" / "silver").exists()  # nothing written to staging


def test_process_rejects_batch_with_wrong_header(lake):
    incoming = lake / "incoming-bad-header"
    incoming.mkdir()
    (incoming / "b.csv").write_text("CUST_ID,DATE,MOVIE_ID,RATING\n1,2005-01-01,1,5\n")
    assert drift.run(["process", "--input", str(incoming), "--staging", str(lake / "staging-bad"),
                      "--result-uri", str(lake / "bad.json")]) == 1
    result = _result(lake / "bad.json")
    assert result["status"] == "FAILED" and "DATE,CUST_ID,MOVIE_ID,RATING" in result["error"]
    assert not (lake / "staging-bad" / "train" / "_delta_log").exists()


def test_drift_bad_arguments(lake, capsys):
    assert drift.run(["detect", "--baseline-test", "a", "--new-test", "b", "--current-pointer", "c",
                      "--weights", "1,2", "--result-uri", str(lake / "x.json")]) == 2
    assert "--weights" in capsys.readouterr().err
    assert drift.run(["explode", "--result-uri", str(lake / "x.json")]) == 2


def test_a_ranking_objective_trains_a_ranking_model_and_an_explicit_rating_model(spark, lake):
    out = lake / "tune-roles.json"
    assert train.run(["--train", str(lake / "train"), "--model-root", str(lake / "roles"), "--rank", "3",
                      "--max-iter", "5", "--grid-implicit-prefs", "false,true", "--grid-reg-param", "0.05",
                      "--grid-alpha", "20", "--tune-objective", "ndcgAtK", "--result-uri", str(out)]) == 0
    result = _result(out)
    version = result["outputs"]["model"]
    meta = _result(os.path.join(version, "metadata.json"))
    ranking, rating = meta["models"]["ranking"], meta["models"]["rating"]
    scores = {c["params"]["implicitPrefs"]: c["score"] for c in meta["tuning"]["candidates"]}
    assert ranking["params"]["implicitPrefs"] is (scores[True] > scores[False])
    # the rating model is searched on RMSE among the explicit candidates only
    assert rating["params"]["implicitPrefs"] is False
    assert meta["ratingTuning"]["objective"] == "rmse" and len(meta["ratingTuning"]["candidates"]) == 1
    assert result["tuning"]["rating"]["objective"] == "rmse" and result["tuning"]["ranking"]["objective"] == "ndcgAtK"
    if ranking["params"] == rating["params"]:
        assert ranking["dir"] == rating["dir"] == "model"
    else:
        assert (ranking["dir"], rating["dir"]) == ("ranking", "rating")
        assert os.path.isdir(os.path.join(version, "ranking")) and os.path.isdir(os.path.join(version, "rating"))
    # evaluate takes RMSE from the rating model and the ranking metrics from the ranking model
    assert evaluate.run(["--model", version, "--train", str(lake / "train"), "--test", str(lake / "test"),
                         "--result-uri", str(lake / "eval-roles.json")]) == 0
    both = _result(lake / "eval-roles.json")["metrics"]
    for role, metric in (("rating", "rmse"), ("ranking", "ndcgAtK")):
        alone = os.path.join(version, meta["models"][role]["dir"])
        assert evaluate.run(["--model", alone, "--train", str(lake / "train"), "--test", str(lake / "test"),
                             "--result-uri", str(lake / f"eval-{role}.json")]) == 0
        assert both[metric] == pytest.approx(_result(lake / f"eval-{role}.json")["metrics"][metric], rel=1e-9)


def test_time_split_validates_on_the_latest_ratings_only(spark, lake):
    from pyspark.sql import functions as F

    from jobs.recommender import tuning

    ratings = datasets.read_dataset(spark, str(lake / "train"))
    fitting, validation = tuning.split_by_time(ratings, 0.8)
    last_fit = fitting.agg(F.max("date")).first()[0]
    first_validation = validation.agg(F.min("date")).first()[0]
    assert last_fit < first_validation
    assert fitting.count() + validation.count() == ratings.count()
    assert validation.count() / ratings.count() == pytest.approx(0.2, abs=0.02)
    out = lake / "tune-time.json"
    assert train.run(["--train", str(lake / "train"), "--model-root", str(lake / "timed"), "--rank", "3",
                      "--max-iter", "5", "--grid-reg-param", "50,0.05", "--tune-objective", "rmse",
                      "--validation-split", "time", "--result-uri", str(out)]) == 0
    meta = _result(os.path.join(_result(out)["outputs"]["model"], "metadata.json"))
    assert meta["tuning"]["split"] == "time" and meta["params"]["regParam"] == 0.05
