"""The news write-back's COPY path (jobs/news/pg_copy.py) against a real PostgreSQL (and real Spark where marked)."""
from __future__ import annotations

import json
import struct
import threading

import numpy as np
import pyarrow as pa
import pytest

from jobs import ml_processing
from jobs.news.enrich import OUTPUT_SCHEMA
from jobs.news.pg_copy import copy_partition, copy_to_staging, float4_arrays_binary, ledger_ddl
from jobs.tests.pg import postgres  # noqa: F401 - fixture

STAGED = "SELECT id, topic, topic_score, sentiment, sentiment_score, embedding, ml_model_version, ml_error FROM {} ORDER BY id"
EDGE_VALUES = [0.0, -0.0, 1 / 3, -1.0, 3.4028235e38, -1.1754944e-38, 1e-7, float("nan"), float("inf")]


@pytest.fixture()
def db(postgres):  # noqa: F811
    postgres.reset_articles()
    with postgres.connect() as conn:
        for (name,) in conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'articles_ml_staging_%'"):
            conn.execute(f"DROP TABLE {name}")
    return postgres


def params(pg) -> dict:
    return ml_processing.connection_from_url(pg.url).libpq_params()


def new_staging(pg) -> tuple[str, str]:
    staging, ledger = ml_processing.staging_names("articles")
    with pg.connect() as conn:
        conn.execute(ml_processing.staging_ddl(staging))
        conn.execute(ledger_ddl(ledger))
    return staging, ledger


def fetch(pg, sql, *args):
    with pg.connect() as conn:
        return conn.execute(sql, args or None).fetchall()


def bits(values) -> list[int]:
    """float4 bit patterns (so -0.0 ≠ 0.0 and NaN = NaN): "exactly equal float4"."""
    return np.asarray(values, dtype=np.float32).view(np.uint32).tolist()


def enriched_rows(count: int, seed: int = 11) -> list[dict]:
    """Rows shaped like the enrich output: successes (384-d unit vectors, edge values in some) and failures."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(1, count + 1):
        if i % 7 == 0:  # a failed row: NULL predictions, an error
            rows.append({"id": i, "topic": None, "topic_score": None, "sentiment": "neutral", "sentiment_score": 0.0,
                         "embedding": None, "ml_model_version": None, "ml_error": f"embedding: rejected «{i}» ✗"})
            continue
        vector = rng.normal(size=384).astype(np.float32)
        vector /= np.linalg.norm(vector)
        if i % 5 == 0:
            vector[: len(EDGE_VALUES)] = EDGE_VALUES
        rows.append({"id": i, "topic": ["Sports", "Science", "Wörld news"][i % 3],
                     "topic_score": float(np.float32(rng.uniform(0.1, 0.9))), "sentiment": "positive",
                     "sentiment_score": float(np.float32(rng.uniform(-1, 1))), "embedding": vector.tolist(),
                     "ml_model_version": '{"embedding":"all-MiniLM-L6-v2@x","topic":"zero-shot"}', "ml_error": None})
    return rows


def arrow_batches(rows: list[dict], size: int) -> list[pa.RecordBatch]:
    schema = pa.schema([("id", pa.int64()), ("topic", pa.string()), ("topic_score", pa.float32()),
                        ("sentiment", pa.string()), ("sentiment_score", pa.float32()),
                        ("embedding", pa.list_(pa.float32())), ("ml_model_version", pa.string()),
                        ("ml_error", pa.string())])
    # Batches cut from one table: each batch's list column is a slice over one shared child array, so the
    # encoder's handling of sliced list arrays is exercised too.
    return pa.Table.from_pylist(rows, schema=schema).to_batches(max_chunksize=size)


def test_float4_arrays_are_postgres_binary_arrays_for_any_length_nulls_and_slices(db):
    column = pa.array([[1.0, -0.0], None, [], [0.5], [float("nan"), 2.0, 3.0], [7.0, 8.0]], pa.list_(pa.float32()))
    encoded = float4_arrays_binary(column.slice(1))
    assert encoded[0] is None
    assert bytes(encoded[1]) == struct.pack(">3i", 0, 0, 700)  # empty: zero dimensions
    assert bytes(encoded[2]) == struct.pack(">5iif", 1, 0, 700, 1, 1, 4, 0.5)
    assert bytes(encoded[4]) == struct.pack(">5iifif", 1, 0, 700, 2, 1, 4, 7.0, 4, 8.0)
    with pytest.raises(ValueError, match="NULL element"):
        float4_arrays_binary(pa.array([[1.0, None]], pa.list_(pa.float32())))
    with pytest.raises(TypeError, match="float4"):
        float4_arrays_binary(pa.array([[1.0]], pa.list_(pa.float64())))

    rows = enriched_rows(40)
    staging, ledger = new_staging(db)
    result = copy_partition(params(db), staging, ledger, 0, iter(arrow_batches(rows, 16)))
    assert result == {"part": 0, "attempt": 0, "rows": 40, "failed": 5, "copied": True}
    got = fetch(db, STAGED.format(staging))
    assert fetch(db, f"SELECT DISTINCT pg_typeof(embedding)::text FROM {staging}") == [("real[]",)]
    assert len(got) == 40
    for expected, row in zip(rows, got):
        assert row[:2] == (expected["id"], expected["topic"]) and row[3] == expected["sentiment"]
        assert row[6:] == (expected["ml_model_version"], expected["ml_error"])
        assert (row[2] is None) == (expected["topic_score"] is None)
        if expected["topic_score"] is not None:
            assert bits([row[2], row[4]]) == bits([expected["topic_score"], expected["sentiment_score"]])
        if expected["embedding"] is None:
            assert row[5] is None
        else:
            assert len(row[5]) == 384 and bits(row[5]) == bits(expected["embedding"])


def test_a_retried_partition_is_staged_once(db):
    rows = enriched_rows(30)
    staging, ledger = new_staging(db)
    first = copy_partition(params(db), staging, ledger, 3, iter(arrow_batches(rows, 8)), attempt=0)
    # Spark runs the task again (the first attempt's executor was lost after its COMMIT): nothing is copied twice.
    again = copy_partition(params(db), staging, ledger, 3, iter(arrow_batches(rows, 8)), attempt=1)
    assert first["copied"] and first["rows"] == 30 and not again["copied"] and again["rows"] == 0
    assert fetch(db, f"SELECT count(*), count(DISTINCT id) FROM {staging}")[0] == (30, 30)
    assert fetch(db, f"SELECT part, rows, failed FROM {ledger}") == [(3, 30, 4)]


@pytest.mark.parametrize("first_fails", [False, True])
def test_concurrent_attempts_of_a_partition_wait_for_each_other(db, first_fails):
    """A speculative second attempt waits for the first one's transaction: it skips when that committed and
    copies when it rolled back (the task failed half-way through its COPY)."""
    rows = enriched_rows(20)
    staging, ledger = new_staging(db)
    halfway, release = threading.Event(), threading.Event()
    outcome: dict = {}

    def slow_batches():
        batches = arrow_batches(rows, 10)
        yield batches[0]
        halfway.set()
        release.wait(30)
        if first_fails:
            raise RuntimeError("executor lost")
        yield batches[1]

    def first_attempt():
        try:
            outcome["first"] = copy_partition(params(db), staging, ledger, 0, slow_batches(), attempt=0)
        except RuntimeError as error:
            outcome["first"] = error

    def second_attempt():
        outcome["second"] = copy_partition(params(db), staging, ledger, 0, iter(arrow_batches(rows, 10)), attempt=1)

    first = threading.Thread(target=first_attempt)
    first.start()
    assert halfway.wait(30)
    second = threading.Thread(target=second_attempt)
    second.start()
    second.join(1.0)
    assert second.is_alive(), "the second attempt must wait for the first one's ledger row"
    release.set()
    first.join(30)
    second.join(30)
    if first_fails:
        assert isinstance(outcome["first"], RuntimeError) and outcome["second"]["copied"]
    else:
        assert outcome["first"]["copied"] and not outcome["second"]["copied"]
    assert fetch(db, f"SELECT count(*), count(DISTINCT id) FROM {staging}")[0] == (20, 20)
    assert fetch(db, f"SELECT part, rows FROM {ledger}") == [(0, 20)]


def test_copy_write_back_gives_the_same_rows_as_the_jdbc_writer(spark, db):
    """The staging rows from the executors' COPY equal those Spark's JDBC writer (the previous path) gives,
    bit for bit, and the UPDATE … FROM them writes 384-element real[] embeddings into articles."""
    rows = enriched_rows(300)
    frame = spark.createDataFrame(rows, OUTPUT_SCHEMA).repartition(3).cache()
    conn = ml_processing.connection_from_url(db.url)
    jdbc_staging, _ = new_staging(db)
    (frame.write.format("jdbc").options(**conn.jdbc_options()).option("dbtable", jdbc_staging)
     .mode("append").save())
    staging, ledger = new_staging(db)
    copied = copy_to_staging(frame, conn.libpq_params(), staging, ledger)
    assert sorted(p["part"] for p in copied) == [0, 1, 2] and all(p["copied"] for p in copied)
    assert sum(p["rows"] for p in copied) == 300 and sum(p["failed"] for p in copied) == 42

    def comparable(table):
        return [(r[:2], bits([r[2]]) if r[2] is not None else None, r[3], bits([r[4]]),
                 bits(r[5]) if r[5] is not None else None, r[6:]) for r in fetch(db, STAGED.format(table))]

    assert comparable(staging) == comparable(jdbc_staging)
    assert comparable(staging) == [((r["id"], r["topic"]), bits([r["topic_score"]]) if r["topic_score"] is not None
                                    else None, r["sentiment"], bits([r["sentiment_score"]]),
                                    bits(r["embedding"]) if r["embedding"] else None,
                                    (r["ml_model_version"], r["ml_error"])) for r in rows]

    with db.connect() as c:
        c.execute("INSERT INTO articles (id, title) SELECT g, 'a' || g FROM generate_series(1, 300) g")
        c.execute(ml_processing.write_back_sql("articles", staging))
    written = fetch(db, "SELECT id, pg_typeof(embedding)::text, array_ndims(embedding), array_length(embedding, 1), "
                        "embedding FROM articles WHERE embedding IS NOT NULL ORDER BY id")
    expected = [r for r in rows if r["embedding"] is not None]
    assert [w[0] for w in written] == [r["id"] for r in expected]
    for w, r in zip(written, expected):
        assert w[1:4] == ("real[]", 1, 384) and bits(w[4]) == bits(r["embedding"])
    frame.unpersist()


def test_a_failed_write_back_leaves_articles_untouched_and_a_rerun_completes_them(spark, db, tmp_path, monkeypatch):
    from jobs.news.sample import generate

    articles = generate(24, seed=4)
    with db.connect() as c:
        for a in articles:
            c.execute("INSERT INTO articles (id, title, content) VALUES (%s, %s, %s)", (a["id"], a["title"], a["content"]))
    monkeypatch.setenv("NEWS_TEST_DB_URL", db.url)
    argv = ["--source", "postgres", "--sink", "postgres", "--db-url-env", "NEWS_TEST_DB_URL", "--read-partitions", "2"]
    real_sql = ml_processing.write_back_sql
    # The UPDATE fails on the last article, after it has changed the others (inside its transaction).
    monkeypatch.setattr(ml_processing, "write_back_sql", lambda table, staging: real_sql(table, staging) + (
        f" AND CASE WHEN a.id = {articles[-1]['id']} THEN 1 / (a.id - a.id) ELSE 1 END = 1"))
    code = ml_processing.cli([*argv, "--result-uri", str(tmp_path / "failed.json")])
    failed = json.loads((tmp_path / "failed.json").read_text())
    assert code == 1 and failed["status"] == "FAILED" and "division by zero" in failed["error"]
    assert fetch(db, "SELECT count(*) FROM articles WHERE topic IS NULL AND embedding IS NULL AND ml_attempts = 0 "
                     "AND ml_processed_at IS NULL")[0][0] == 24
    assert not fetch(db, "SELECT tablename FROM pg_tables WHERE tablename LIKE 'articles_ml_staging_%'")

    monkeypatch.setattr(ml_processing, "write_back_sql", real_sql)
    code = ml_processing.cli([*argv, "--result-uri", str(tmp_path / "rerun.json")])
    rerun = json.loads((tmp_path / "rerun.json").read_text())
    assert code == 0 and rerun["counts"]["processed"] == 24 and rerun["counts"]["updated"] == 24
    assert rerun["metrics"]["copyPartitions"] >= 2
    assert fetch(db, "SELECT count(*) FROM articles WHERE array_length(embedding, 1) = 384 AND topic IS NOT NULL "
                     "AND ml_error IS NULL")[0][0] == 24
    assert not fetch(db, "SELECT tablename FROM pg_tables WHERE tablename LIKE 'articles_ml_staging_%'")
    assert db.password not in json.dumps(failed) and db.password not in json.dumps(rerun)


def test_copy_connections_use_the_jdbc_paths_tls_mode():
    secret = {"host": "db.internal", "port": 5433, "username": "app", "password": "s3cr3t!", "dbname": "news",
              "sslmode": "verify-full"}
    conn = ml_processing.connection_from_secret(secret)
    assert "sslmode=verify-full" in conn.jdbc_url
    assert conn.libpq_params() == {"host": "db.internal", "port": 5433, "dbname": "news", "user": "app",
                                   "password": "s3cr3t!", "application_name": "jobs.ml_processing",
                                   "connect_timeout": 10, "sslmode": "verify-full"}
    assert "sslmode" not in ml_processing.connection_from_secret({**secret, "sslmode": None}).libpq_params()
