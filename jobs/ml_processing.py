"""News enrichment: topic, sentiment and a 384-d embedding for every article that still needs them.

Source / sink: a PostgreSQL table (`postgres`, schema in db/migrations/) or a Parquet dataset URI (lake mode).

PostgreSQL mode
  extract   Spark JDBC read, partitioned on `id` (numPartitions ranges between the pending min/max ids), of only
            the rows needing work: any of topic / sentiment / embedding NULL and `ml_attempts < --max-attempts`.
  transform `jobs.news.enrich.enrich` (mapInPandas; models built once per Python worker).
  load      set-based: every partition streams its rows from its executor into a per-run UNLOGGED staging
            table with one binary COPY on its own connection (`jobs.news.pg_copy`: float4[] sent natively, a
            ledger row per partition so a retried task never stages its rows twice), then the driver runs ONE
            `UPDATE articles … FROM staging` + `DROP staging` in one transaction — a failed run leaves articles
            untouched. Only NULL fields are filled; a failed row keeps its NULLs, gets `ml_error` and
            `ml_attempts + 1`. A session advisory lock keeps overlapping runs from processing the same table
            twice.
Lake mode
  Rows of the source dataset not yet enriched in the sink (or failed with attempts left) are enriched; the
  sink table gets a new complete version (previous rows + new results) whose commit metadata records the source
  and the source version it was built from and its retryable failures (read by the check-articles Lambda from
  the sink's Delta log): it is committed with the rows it describes, in the one commit, and the job writes only
  where it writes its output (the job role may not write the bronze source).

Credentials: `--db-secret-arn` (Secrets Manager, fetched here with boto3) or `--db-url-env NAME` (a libpq URL
`postgresql://user:password@host:port/db` in that environment variable; default DATABASE_URL). They never
appear in arguments, logs, results or Spark plans (the password is a JDBC property, redacted by Spark; the
executors' COPY connections get it inside the serialized task, as Spark's JDBC reader gets its options).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import unquote, urlparse

if __package__ in (None, ""):  # spark-submit jobs/ml_processing.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jobs.common import datasets, uris  # noqa: E402
from jobs.common.cli import ArgumentError, JobContext, new_parser, positive_int, run_job  # noqa: E402
from jobs.common.log import get_logger  # noqa: E402
from jobs.news.embedding import DEFAULT_PRECISION, PRECISIONS  # noqa: E402
from jobs.news.enrich import ModelConfig, enrich  # noqa: E402
from jobs.news.pg_copy import copy_to_staging, ledger_ddl  # noqa: E402
from jobs.news.topic import DEFAULT_LABELS  # noqa: E402

JOB = "ml_processing"
log = get_logger(f"jobs.{JOB}")
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,47}$")
ARTICLE_COLUMNS = ["id", "title", "content", "source", "url", "published_at"]


def pending_predicate(max_attempts: int) -> str:
    return f"(topic IS NULL OR sentiment IS NULL OR embedding IS NULL) AND ml_attempts < {int(max_attempts)}"


# --------------------------------------------------------------------------------------------------------------
# Credentials
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DbConnection:
    host: str
    port: int
    database: str
    user: str
    password: str
    sslmode: str | None = None

    @property
    def jdbc_url(self) -> str:
        params = "ApplicationName=jobs.ml_processing"
        if self.sslmode:
            params += f"&sslmode={self.sslmode}"
        return f"jdbc:postgresql://{self.host}:{self.port}/{self.database}?{params}"

    def jdbc_options(self) -> dict[str, str]:
        return {"url": self.jdbc_url, "user": self.user, "password": self.password, "driver": "org.postgresql.Driver"}

    def libpq_params(self) -> dict:
        """psycopg/libpq keywords for the executors' COPY connections, with the JDBC URL's TLS mode (`sslmode`
        means the same in both drivers, and both take the root certificate from ~/.postgresql/root.crt) and
        pgjdbc's default 10 s connect timeout (libpq's default is to wait forever)."""
        params = {"host": self.host, "port": self.port, "dbname": self.database, "user": self.user,
                  "password": self.password, "application_name": "jobs.ml_processing", "connect_timeout": 10}
        if self.sslmode:
            params["sslmode"] = self.sslmode
        return params

    def __repr__(self) -> str:  # never print the password
        return f"DbConnection({self.user}@{self.host}:{self.port}/{self.database})"


def connection_from_url(url: str) -> DbConnection:
    parsed = urlparse(url)
    if parsed.scheme not in ("postgresql", "postgres") or not parsed.hostname or not parsed.path.strip("/"):
        raise ValueError("database URL must look like postgresql://user:password@host:port/database")
    query = dict(p.split("=", 1) for p in parsed.query.split("&") if "=" in p)
    return DbConnection(host=parsed.hostname, port=parsed.port or 5432, database=parsed.path.strip("/"),
                        user=unquote(parsed.username or ""), password=unquote(parsed.password or ""),
                        sslmode=query.get("sslmode"))


def connection_from_secret(secret: dict) -> DbConnection:
    missing = [k for k in ("host", "username", "password") if not secret.get(k)]
    if missing:
        raise ValueError(f"database secret is missing keys: {', '.join(missing)}")
    return DbConnection(host=secret["host"], port=int(secret.get("port") or 5432),
                        database=secret.get("dbname") or "postgres", user=secret["username"],
                        password=secret["password"], sslmode=secret.get("sslmode"))


def fetch_secret(secret_arn: str, client=None) -> dict:
    if client is None:
        import boto3

        region = secret_arn.split(":")[3] if secret_arn.startswith("arn:") else None
        client = boto3.client("secretsmanager", region_name=region or None)
    value = client.get_secret_value(SecretId=secret_arn)["SecretString"]
    return json.loads(value)


def resolve_connection(args) -> DbConnection:
    if args.db_secret_arn:
        return connection_from_secret(fetch_secret(args.db_secret_arn))
    env_name = args.db_url_env or "DATABASE_URL"
    url = os.environ.get(env_name)
    if not url:
        raise ArgumentError("--db-url-env", f"environment variable {env_name} is not set (or pass --db-secret-arn)")
    try:
        return connection_from_url(url)
    except ValueError as exc:
        raise ArgumentError("--db-url-env", f"{env_name}: {exc}") from None


# --------------------------------------------------------------------------------------------------------------
# JDBC on the driver (through the JVM's PostgreSQL driver, the same JAR Spark uses)
# --------------------------------------------------------------------------------------------------------------
class DriverSql:
    """A JDBC connection held by the driver for bounds, the advisory lock and the write-back transaction."""

    def __init__(self, spark, conn: DbConnection):
        jvm = spark.sparkContext._jvm
        props = jvm.java.util.Properties()
        props.setProperty("user", conn.user)
        props.setProperty("password", conn.password)
        self._conn = jvm.org.postgresql.Driver().connect(conn.jdbc_url, props)
        if self._conn is None:
            raise RuntimeError("PostgreSQL driver did not accept the JDBC URL")

    def execute(self, sql: str) -> int:
        statement = self._conn.createStatement()
        try:
            return statement.executeUpdate(sql)
        finally:
            statement.close()

    def query(self, sql: str) -> list[tuple]:
        statement = self._conn.createStatement()
        try:
            result = statement.executeQuery(sql)
            width = result.getMetaData().getColumnCount()
            rows = []
            while result.next():
                rows.append(tuple(result.getObject(i + 1) for i in range(width)))
            return rows
        finally:
            statement.close()

    def transaction(self, statements: list[str]) -> list[int]:
        self._conn.setAutoCommit(False)
        try:
            counts = [self.execute(sql) for sql in statements]
            self._conn.commit()
            return counts
        except Exception:
            self._conn.rollback()
            raise
        finally:
            self._conn.setAutoCommit(True)

    def close(self) -> None:
        self._conn.close()


def staging_names(table: str) -> tuple[str, str]:
    """(staging table, its COPY ledger) of one run: `<table>_ml_staging_<hex>` and `<table>_ml_staging_p<hex>`.

    Both match the stale-table sweep's `<table>_ml_staging_%`, and they differ within PostgreSQL's 63-byte
    identifiers even for a 48-character table name (hex digits are never `p`)."""
    run = uuid.uuid4().hex[:12]
    return f"{table}_ml_staging_{run}", f"{table}_ml_staging_p{run}"


def staging_ddl(staging: str) -> str:
    return (f"CREATE UNLOGGED TABLE {staging} (id bigint PRIMARY KEY, topic text, topic_score real, "
            "sentiment text, sentiment_score real, embedding real[], ml_model_version text, ml_error text)")


def write_back_sql(table: str, staging: str) -> str:
    """One set-based UPDATE: fill only NULL fields; failures add ml_error and one attempt."""
    return f"""
UPDATE {table} AS a SET
    topic            = CASE WHEN a.topic IS NULL THEN s.topic ELSE a.topic END,
    topic_score      = CASE WHEN a.topic IS NULL THEN s.topic_score ELSE a.topic_score END,
    sentiment        = CASE WHEN a.sentiment IS NULL THEN s.sentiment ELSE a.sentiment END,
    sentiment_score  = CASE WHEN a.sentiment IS NULL THEN s.sentiment_score ELSE a.sentiment_score END,
    embedding        = COALESCE(a.embedding, s.embedding),
    ml_model_version = CASE WHEN s.ml_error IS NULL THEN s.ml_model_version ELSE a.ml_model_version END,
    ml_processed_at  = CASE WHEN s.ml_error IS NULL THEN now() ELSE a.ml_processed_at END,
    ml_error         = s.ml_error,
    ml_attempts      = a.ml_attempts + CASE WHEN s.ml_error IS NULL THEN 0 ELSE 1 END
FROM {staging} AS s
WHERE a.id = s.id AND (a.topic IS NULL OR a.sentiment IS NULL OR a.embedding IS NULL)"""


def run_postgres(spark, args, config: ModelConfig, ctx: JobContext, conn: DbConnection) -> None:
    table = args.table
    sql = DriverSql(spark, conn)
    try:
        lock_key = f"jobs.ml_processing:{table}"
        if not sql.query(f"SELECT pg_try_advisory_lock(hashtext('{lock_key}'))")[0][0]:
            log.warning("another ml_processing run holds the lock on %s: nothing done", table)
            ctx.counts.update(processed=0, failed=0, skipped=0, pending=0)
            ctx.outputs.update(table=table, concurrentRun=True)
            return
        # Staging tables of runs that died before their write-back (we hold the lock: no run is active).
        for (stale,) in sql.query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                                  f"AND tablename LIKE '{table}\\_ml\\_staging\\_%'"):
            sql.execute(f"DROP TABLE IF EXISTS {stale}")
        predicate = pending_predicate(args.max_attempts)
        low, high, pending = sql.query(f"SELECT min(id), max(id), count(*) FROM {table} WHERE {predicate}")[0]
        exhausted = sql.query(f"SELECT count(*) FROM {table} WHERE (topic IS NULL OR sentiment IS NULL OR "
                              f"embedding IS NULL) AND ml_attempts >= {int(args.max_attempts)}")[0][0]
        pending, exhausted = int(pending), int(exhausted)
        ctx.outputs.update(table=table)
        if pending == 0:
            ctx.counts.update(processed=0, failed=0, skipped=exhausted, pending=0)
            ctx.metrics.update(articlesPerSecond=0.0, modelVersions=None)
            return
        cores = max(1, spark.sparkContext.defaultParallelism)
        partitions = args.read_partitions or max(cores, min(cores * 4, (pending + 4999) // 5000))
        started = time.time()
        articles = (spark.read.format("jdbc").options(**conn.jdbc_options())
                    .option("dbtable", f"(SELECT id, title, content FROM {table} WHERE {predicate}) AS pending")
                    .option("partitionColumn", "id").option("lowerBound", str(int(low)))
                    .option("upperBound", str(int(high) + 1)).option("numPartitions", str(partitions))
                    .option("fetchsize", "1000").load())
        # Id ranges of the pending rows can be uneven: spread the rows over every core before the models run
        # (a shuffle of ids and texts only, negligible next to inference).
        enriched = enrich(articles.repartition(max(partitions, cores * 2)), config)
        staging, ledger = staging_names(table)
        sql.execute(staging_ddl(staging))
        sql.execute(ledger_ddl(ledger))
        try:
            copied = copy_to_staging(enriched, conn.libpq_params(), staging, ledger)
            processed, failed, versions = sql.query(
                f"SELECT count(*) FILTER (WHERE ml_error IS NULL), count(*) FILTER (WHERE ml_error IS NOT NULL), "
                f"max(ml_model_version) FROM {staging}")[0]
            updated = sql.transaction([write_back_sql(table, staging), f"DROP TABLE {staging}",
                                       f"DROP TABLE {ledger}"])[0]
        except Exception:
            sql.execute(f"DROP TABLE IF EXISTS {staging}")
            sql.execute(f"DROP TABLE IF EXISTS {ledger}")
            raise
        elapsed = time.time() - started
        ctx.counts.update(processed=int(processed), failed=int(failed), skipped=exhausted, pending=pending,
                          updated=int(updated))
        ctx.metrics.update(articlesPerSecond=round((int(processed) + int(failed)) / elapsed, 2),
                           secondsEnrichAndWrite=round(elapsed, 3), readPartitions=partitions,
                           copyPartitions=len(copied),
                           modelVersions=json.loads(versions) if versions else None)
    finally:
        sql.close()


# --------------------------------------------------------------------------------------------------------------
# Lake mode
# --------------------------------------------------------------------------------------------------------------


def lake_work(source_df, previous_sink, max_attempts: int):
    """(rows to enrich with their previous attempts, rows to carry over unchanged, skipped count)."""
    from pyspark.sql import functions as F

    source_df = source_df.select(*[c for c in ARTICLE_COLUMNS if c in source_df.columns])
    if previous_sink is None:
        return source_df.withColumn("ml_attempts", F.lit(0)), None, 0
    done = previous_sink.filter("topic IS NOT NULL AND sentiment IS NOT NULL AND embedding IS NOT NULL")
    attempts = previous_sink.filter("topic IS NULL OR sentiment IS NULL OR embedding IS NULL") \
        .select("id", "ml_attempts")
    todo = (source_df.join(done.select("id"), "id", "left_anti").join(attempts, "id", "left")
            .withColumn("ml_attempts", F.coalesce("ml_attempts", F.lit(0))))
    skipped_rows = previous_sink.join(todo.filter(F.col("ml_attempts") >= max_attempts).select("id"), "id", "left_semi")
    work = todo.filter(F.col("ml_attempts") < max_attempts)
    carry = previous_sink.join(work.select("id"), "id", "left_anti")
    return work, carry, skipped_rows.count()


def run_lake(spark, args, config: ModelConfig, ctx: JobContext) -> None:
    from pyspark.sql import functions as F

    source_root = args.source
    source_version = datasets.latest_version(spark, source_root)  # None: Parquet files, not a table
    source_df = datasets.read_dataset(spark, source_root if source_version is None
                                      else datasets.version_ref(source_root, source_version))
    previous_sink = datasets.read_dataset(spark, args.sink, required=False)
    work, carry, skipped = lake_work(source_df, previous_sink, args.max_attempts)
    # Spread the work over every core (a small source may be a single Parquet file = a single partition).
    work = work.repartition(max(1, spark.sparkContext.defaultParallelism)).persist()
    pending = work.count()
    started = time.time()
    results = enrich(work, config).persist()
    enriched = (work.join(results, "id")
                .withColumn("ml_attempts", F.col("ml_attempts") + F.when(F.col("ml_error").isNull(), 0).otherwise(1))
                .withColumn("ml_processed_at", F.when(F.col("ml_error").isNull(), F.current_timestamp())))
    columns = [c for c in ARTICLE_COLUMNS if c in source_df.columns] + [
        "topic", "topic_score", "sentiment", "sentiment_score", "embedding", "ml_model_version", "ml_processed_at",
        "ml_attempts", "ml_error"]
    output = enriched.select(*columns)
    if carry is not None:
        output = output.unionByName(carry.select(*columns))
    counts = results.agg(F.count(F.when(F.col("ml_error").isNull(), 1)).alias("processed"),
                         F.count(F.col("ml_error")).alias("failed"),
                         F.max("ml_model_version").alias("versions")).first()
    retryable = output.filter(f"(topic IS NULL OR sentiment IS NULL OR embedding IS NULL) "
                              f"AND ml_attempts < {int(args.max_attempts)}").count()
    state = {"source": source_root, "sourceVersion": source_version, "retryable": retryable,
             "processedAt": datetime.now(timezone.utc).isoformat()}
    dataset = datasets.write_dataset(output, args.sink, **state)
    elapsed = time.time() - started
    results.unpersist()
    work.unpersist()
    state.update(sink=args.sink, sinkDataset=dataset)
    ctx.counts.update(processed=int(counts["processed"]), failed=int(counts["failed"]), skipped=int(skipped),
                      pending=int(pending), retryable=retryable)
    ctx.metrics.update(articlesPerSecond=round(pending / elapsed, 2) if pending else 0.0,
                       secondsEnrichAndWrite=round(elapsed, 3),
                       modelVersions=json.loads(counts["versions"]) if counts["versions"] else None)
    ctx.outputs.update(dataset=dataset, state=state)


# --------------------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = new_parser(JOB, "Enriches news articles with topic, sentiment and a 384-d embedding.")
    parser.add_argument("--source", required=True, help="'postgres' or a Parquet dataset URI (lake mode)")
    parser.add_argument("--sink", required=True, help="'postgres' or a dataset root URI (lake mode)")
    parser.add_argument("--db-secret-arn", help="Secrets Manager secret (host, port, username, password, dbname)")
    parser.add_argument("--db-url-env", help="name of the env var holding postgresql://… (default DATABASE_URL)")
    parser.add_argument("--table", default="articles", help="articles table")
    parser.add_argument("--max-attempts", type=positive_int, default=3, help="skip rows that failed this often")
    parser.add_argument("--models-dir", help="directory with the embedding model files (default: ./models "
                                             "from the models archive, else assets/models)")
    parser.add_argument("--embedding-precision", choices=PRECISIONS, default=DEFAULT_PRECISION,
                        help="embedding model: int8 (model_int8.onnx, ~1.8-2x faster inference) or fp32 (model.onnx)")
    parser.add_argument("--topic-pointer", help="URI of topic/current.json (trained model); zero-shot when absent")
    parser.add_argument("--labels", default=",".join(DEFAULT_LABELS), help="zero-shot topic labels")
    parser.add_argument("--batch-size", type=positive_int, default=256, help="rows per Arrow batch")
    parser.add_argument("--read-partitions", type=positive_int, help="JDBC read partitions (default: by size)")
    return parser


def load_topic_model(pointer: str | None) -> str | None:
    """The trained model JSON named by the pointer, or None (zero-shot) when there is no pointer yet."""
    if not pointer or not uris.exists(pointer):
        return None
    current = json.loads(uris.read_text(pointer))
    model_uri = current.get("modelUri") or current.get("path") or current.get("uri")
    if not model_uri:
        raise ValueError(f"topic pointer {pointer} names no modelUri")
    return uris.read_text(uris.join_uri(model_uri, "topic_model.json"))


def resolve_models_dir(value: str | None) -> str | None:
    if value:
        return value
    return "models" if os.path.isdir("models") else None


def main(args, ctx: JobContext, model_config: ModelConfig | None = None) -> None:
    if args.source != "postgres" and args.sink == "postgres" or args.source == "postgres" and args.sink != "postgres":
        raise ArgumentError("--sink", "source and sink must both be 'postgres' or both be dataset URIs")
    if not IDENTIFIER.match(args.table):
        raise ArgumentError("--table", "must be a plain lower-case SQL identifier")
    labels = tuple(label.strip() for label in args.labels.split(",") if label.strip())
    if len(labels) < 2:
        raise ArgumentError("--labels", "needs at least two labels")
    conn = resolve_connection(args) if args.source == "postgres" else None
    config = model_config or ModelConfig(models_dir=resolve_models_dir(args.models_dir), labels=labels,
                                         topic_model_json=load_topic_model(args.topic_pointer),
                                         batch_size=min(args.batch_size, 128), precision=args.embedding_precision)
    spark = ctx.spark
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(args.batch_size))
    if conn is not None:
        run_postgres(spark, args, config, ctx, conn)
    else:
        run_lake(spark, args, config, ctx)
    log.info("ml_processing done: %s", ctx.counts)


def cli(argv=None, model_config: ModelConfig | None = None) -> int:
    return run_job(JOB, build_parser, lambda a, c: main(a, c, model_config), argv)


if __name__ == "__main__":
    sys.exit(cli())
