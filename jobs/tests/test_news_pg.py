"""ml_processing against a real PostgreSQL server (started by the `postgres` fixture) and in lake mode."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from jobs import ml_processing
from jobs.news.enrich import ModelConfig
from jobs.news.sample import generate
from jobs.tests.pg import postgres  # noqa: F401 - fixture

LABELS = {"World", "Politics", "Business", "Technology", "Science", "Health", "Sports", "Entertainment"}
FAULTY = ModelConfig(embedder_factory="jobs.tests.news_faulty_models:FaultyEmbedder")


def insert_articles(pg, articles):
    with pg.connect() as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO articles (id, title, content, source, url, published_at) VALUES (%s,%s,%s,%s,%s,%s)",
                [(a["id"], a["title"], a["content"], a["source"], a["url"], a["published_at"]) for a in articles])


def fetch(pg, sql, *params):
    with pg.connect() as conn:
        return conn.execute(sql, params or None).fetchall()


def run_job(pg, tmp_path, monkeypatch, name, extra=(), model_config=None):
    monkeypatch.setenv("NEWS_TEST_DB_URL", pg.url)
    result = tmp_path / f"{name}.json"
    code = ml_processing.cli(["--source", "postgres", "--sink", "postgres", "--db-url-env", "NEWS_TEST_DB_URL",
                              "--result-uri", str(result), *extra], model_config=model_config)
    return code, json.loads(result.read_text())


@pytest.fixture()
def pg(postgres):  # noqa: F811
    postgres.reset_articles()
    return postgres


def test_processes_only_rows_needing_work_and_writes_back_real_predictions(spark, pg, tmp_path, monkeypatch, caplog):
    articles = generate(60, seed=3)
    insert_articles(pg, articles)
    done_vector = [1.0] + [0.0] * 383
    with pg.connect() as conn:
        # id 1: complete → must not be read or touched
        conn.execute("UPDATE articles SET topic='Sports', topic_score=0.9, sentiment='neutral', sentiment_score=0,"
                     " embedding=%s, ml_model_version='old', ml_processed_at='2020-01-01' WHERE id=1", (done_vector,))
        # id 2: sentiment already present → keep it, fill topic + embedding only
        conn.execute("UPDATE articles SET sentiment='negative', sentiment_score=-0.5 WHERE id=2")
        # id 3: out of attempts → skipped
        conn.execute("UPDATE articles SET ml_attempts=3, ml_error='earlier failure' WHERE id=3")
        # two unmistakable sentiment cases
        conn.execute("UPDATE articles SET title='Wonderful news', content='A great, happy, excellent and brilliant "
                     "success that everyone loves.' WHERE id=4")
        conn.execute("UPDATE articles SET title='Terrible news', content='A horrible, sad, awful and tragic "
                     "disaster that everyone hates.' WHERE id=5")

    code, result = run_job(pg, tmp_path, monkeypatch, "first")
    assert code == 0, result
    assert result["status"] == "SUCCEEDED"
    assert result["counts"]["pending"] == 58
    assert result["counts"]["processed"] == 58
    assert result["counts"]["failed"] == 0
    assert result["counts"]["skipped"] == 1
    assert result["metrics"]["articlesPerSecond"] > 0
    assert result["metrics"]["modelVersions"]["embedding"].startswith("all-MiniLM-L6-v2:int8@")  # the jobs embed with the int8 export by default
    assert result["metrics"]["modelVersions"]["sentiment"] == "vader-3.3.2"

    untouched = fetch(pg, "SELECT topic, ml_model_version, ml_processed_at::date::text FROM articles WHERE id=1")[0]
    assert untouched == ("Sports", "old", "2020-01-01")
    assert fetch(pg, "SELECT sentiment, sentiment_score FROM articles WHERE id=2")[0] == ("negative", -0.5)
    assert fetch(pg, "SELECT topic IS NULL, embedding IS NULL, ml_attempts FROM articles WHERE id=3")[0] == (True, True, 3)

    rows = fetch(pg, "SELECT id, topic, topic_score, sentiment, sentiment_score, embedding, ml_error, ml_attempts "
                     "FROM articles WHERE id NOT IN (1, 3) ORDER BY id")
    assert len(rows) == 58
    for _id, topic, topic_score, sentiment, sentiment_score, embedding, error, attempts in rows:
        assert topic in LABELS and 0 < topic_score <= 1
        assert sentiment in {"positive", "neutral", "negative"} and -1 <= sentiment_score <= 1
        assert len(embedding) == 384 and math.isclose(float(np.linalg.norm(embedding)), 1.0, abs_tol=1e-4)
        assert error is None and attempts == 0
    assert len({round(r[2], 4) for r in rows}) > 20, "topic_score must be a real similarity, not a constant"
    by_id = {r[0]: r for r in rows}
    assert by_id[4][3] == "positive" and by_id[4][4] > 0.5
    assert by_id[5][3] == "negative" and by_id[5][4] < -0.5
    labelled = {a["id"]: a["label"] for a in articles}
    accuracy = np.mean([by_id[i][1] == labelled[i] for i in by_id if i not in (4, 5)])
    assert accuracy > 0.8

    # A second run finds nothing to do and changes nothing.
    code, again = run_job(pg, tmp_path, monkeypatch, "second")
    assert code == 0 and again["counts"]["processed"] == 0 and again["counts"]["pending"] == 0
    assert fetch(pg, "SELECT count(*) FROM articles WHERE ml_processed_at IS NOT NULL")[0][0] == 59
    assert not fetch(pg, "SELECT tablename FROM pg_tables WHERE tablename LIKE 'articles_ml_staging_%'")
    assert pg.password not in json.dumps(result) and pg.password not in json.dumps(again)
    assert "ml_processing done" in caplog.text and pg.password not in caplog.text


def test_failed_inference_keeps_nulls_records_error_and_is_retried(spark, pg, tmp_path, monkeypatch):
    articles = generate(20, seed=5)
    for a in articles[:3]:
        a["content"] += " POISON"
    insert_articles(pg, articles)

    code, result = run_job(pg, tmp_path, monkeypatch, "faulty", ["--read-partitions", "3"], model_config=FAULTY)
    assert code == 0, result
    assert result["metrics"]["readPartitions"] == 3  # parallel JDBC read, id ranges
    assert result["counts"]["processed"] == 17 and result["counts"]["failed"] == 3
    failed = fetch(pg, "SELECT id, topic, topic_score, embedding, ml_error, ml_attempts, ml_processed_at "
                       "FROM articles WHERE id <= 3 ORDER BY id")
    for _id, topic, topic_score, embedding, error, attempts, processed_at in failed:
        assert topic is None and topic_score is None and embedding is None and processed_at is None
        assert "embedding" in error and "rejected" in error
        assert attempts == 1
    assert fetch(pg, "SELECT count(*) FROM articles WHERE id > 3 AND topic IS NOT NULL AND embedding IS NOT NULL "
                     "AND ml_error IS NULL")[0][0] == 17

    # Retried next run (still failing → attempts 2); then with --max-attempts 2 they are skipped.
    code, retry = run_job(pg, tmp_path, monkeypatch, "retry", model_config=FAULTY)
    assert retry["counts"]["pending"] == 3 and retry["counts"]["failed"] == 3 and retry["counts"]["processed"] == 0
    assert {r[0] for r in fetch(pg, "SELECT ml_attempts FROM articles WHERE id <= 3")} == {2}
    code, capped = run_job(pg, tmp_path, monkeypatch, "capped", ["--max-attempts", "2"], model_config=FAULTY)
    assert capped["counts"]["pending"] == 0 and capped["counts"]["skipped"] == 3

    # Once the model works again, the failed rows are completed and their error cleared.
    code, healed = run_job(pg, tmp_path, monkeypatch, "healed", ["--max-attempts", "5"])
    assert healed["counts"]["processed"] == 3
    assert fetch(pg, "SELECT count(*) FROM articles WHERE ml_error IS NULL AND embedding IS NOT NULL")[0][0] == 20


def test_missing_database_url_is_a_bad_argument(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_DB_URL", raising=False)
    result = tmp_path / "r.json"
    code = ml_processing.cli(["--source", "postgres", "--sink", "postgres", "--db-url-env", "NO_SUCH_DB_URL",
                              "--result-uri", str(result)])
    assert code == 2
    body = json.loads(result.read_text())
    assert body["status"] == "FAILED" and "--db-url-env" in body["error"]


def test_secret_from_secrets_manager_builds_the_connection():
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("secretsmanager", region_name="eu-west-1", aws_access_key_id="x",
                          aws_secret_access_key="y")
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:news-db-AbCdEf"
    secret = {"host": "db.internal", "port": 5433, "username": "app", "password": "s3cr3t!", "dbname": "news"}
    with Stubber(client) as stub:
        stub.add_response("get_secret_value", {"SecretString": json.dumps(secret)}, {"SecretId": arn})
        conn = ml_processing.connection_from_secret(ml_processing.fetch_secret(arn, client))
    assert conn.jdbc_url.startswith("jdbc:postgresql://db.internal:5433/news?")
    assert conn.jdbc_options()["password"] == "s3cr3t!"
    assert "s3cr3t" not in repr(conn) and "s3cr3t" not in conn.jdbc_url


def test_lake_mode_enriches_new_rows_once_and_records_state(spark, local_s3, tmp_path):
    from jobs.common import datasets

    articles = generate(24, seed=9)
    source = "s3://lake/bronze/news/articles"
    sink = "s3://lake/gold/news/articles"
    df = spark.createDataFrame([{k: a[k] for k in ("id", "title", "content", "source", "url")} for a in articles])
    datasets.write_dataset(df, source)

    def run(name, model_config=None):
        out = tmp_path / f"{name}.json"
        code = ml_processing.cli(["--source", source, "--sink", sink, "--result-uri", str(out)], model_config)
        return code, json.loads(out.read_text())

    articles_poisoned = {a["id"] for a in articles[:2]}
    df_poisoned = spark.createDataFrame([{**{k: a[k] for k in ("id", "title", "source", "url")},
                                          "content": a["content"] + (" POISON" if a["id"] in articles_poisoned else "")}
                                         for a in articles])
    datasets.write_dataset(df_poisoned, source)
    code, first = run("first", FAULTY)
    assert code == 0, first
    assert first["counts"] == {"processed": 22, "failed": 2, "skipped": 0, "pending": 24, "retryable": 2}
    # the state is the sink's commit metadata (gold/, which the job role may write), never in the bronze source
    state = datasets.history(spark, sink)[0]["metadata"]
    assert state["retryable"] == 2 and state["sourceVersion"] == datasets.latest_version(spark, source) == 1
    assert state["source"] == source
    assert first["outputs"]["state"] == {**{k: v for k, v in state.items() if k != "commitId"}, "sink": sink,
                                         "sinkDataset": f"{sink}@v0"}
    assert datasets.latest_version(spark, source) == 1  # the source is untouched
    out = datasets.read_dataset(spark, sink).toPandas().set_index("id")
    assert len(out) == 24
    assert out.loc[sorted(articles_poisoned), "embedding"].isna().all()
    assert (out.loc[sorted(articles_poisoned), "ml_attempts"] == 1).all()
    good = out.drop(index=sorted(articles_poisoned))
    assert good["embedding"].map(len).eq(384).all() and good["ml_error"].isna().all()

    code, second = run("second")  # healthy models: only the 2 failed rows are redone
    assert second["counts"]["pending"] == 2 and second["counts"]["processed"] == 2
    code, third = run("third")
    assert third["counts"]["pending"] == 0 and third["counts"]["processed"] == 0
    final = datasets.read_dataset(spark, sink).toPandas()
    assert len(final) == 24 and final["ml_error"].isna().all() and final["embedding"].notna().all()
