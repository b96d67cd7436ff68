"""Lake datasets as path-based Delta Lake tables (see docs/CONTRACTS.md, "Lake tables").

A dataset root holds one Delta table: Parquet data files (partitioned as the writer says) and ``_delta_log/``,
one JSON commit file per version. A commit is the single new object ``_delta_log/<version>.json``; readers see a
version's files only through it, so a writer killed at any point before that PUT leaves the last commit intact and
readable (its orphaned files are never read and are vacuumed after the retention).

A job result names the version it committed as ``<root>@v<N>`` (:func:`version_ref`); :func:`read_dataset`
reads exactly that version (time travel) or, for a bare root, the latest. Versions stay readable for the
table's retention (``delta.logRetentionDuration`` and ``delta.deletedFileRetentionDuration``, set from the
writer's ``retention_days``) and expire after it: every commit here is followed by a ``VACUUM … LITE``.
"""
from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timezone
from typing import Any, Iterable

from pyspark.sql import DataFrame, SparkSession

from jobs.common import uris
from jobs.common.log import get_logger

LOG_DIR = "_delta_log"
DEFAULT_RETENTION_DAYS = 7
DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELETION_VECTORS = {"delta.enableDeletionVectors": "true"}
_REF = re.compile(r"^(?P<root>.+?)@v(?P<version>\d+)$")
# Delta refuses to vacuum below 7 days unless told the caller means it
_DELTA_MIN_RETENTION_HOURS = 168

log = get_logger(__name__)
_retention_days = DEFAULT_RETENTION_DAYS


def set_retention_days(days: int) -> None:
    """The retention of the tables this process writes (a job's ``--retention-days``)."""
    global _retention_days
    if int(days) < 1:
        raise ValueError(f"retention-days: must be at least 1, got {days}")
    _retention_days = int(days)


def new_version_id(now: datetime | None = None) -> str:
    """Sortable, unique id of what is versioned outside tables (model versions, batch manifests): UTC timestamp to
    the microsecond plus a random suffix."""
    now = now or datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:6]


def version_ref(root: str, version: int) -> str:
    """``<root>@v<version>``: what a result names, what :func:`read_dataset` reads back exactly."""
    return f"{root.rstrip('/')}@v{int(version)}"


def split_ref(uri: str) -> tuple[str, int | None]:
    """``(root, version)`` of ``<root>@v<N>``, ``(uri, None)`` for a bare root."""
    match = _REF.match(uri)
    return (match["root"], int(match["version"])) if match else (uri.rstrip("/"), None)


def is_table(uri: str) -> bool:
    return uris.exists(uris.join_uri(split_ref(uri)[0], LOG_DIR))


def require_delta(spark: SparkSession) -> None:
    extensions = spark.conf.get("spark.sql.extensions", "") or ""
    if DELTA_EXTENSION not in extensions:
        raise RuntimeError(f"Delta Lake is not configured in this Spark session: the lake's datasets are Delta "
                           f"tables; start the job with the Delta jars and --conf spark.sql.extensions={DELTA_EXTENSION} "
                           f"--conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog "
                           f"(the job request builder sets them from lib/config/emr-releases.json)")


def _table(uri: str) -> str:
    return "delta.`" + uris.to_physical(uri).replace("`", "``") + "`"


def read_dataset(spark: SparkSession, uri: str, required: bool = True) -> DataFrame | None:
    """The rows of a dataset: ``<root>@v<N>`` → that version, a table root → its latest version, a directory of
    Parquet files written by something else → those files. ``None`` (or FileNotFoundError) when nothing is there."""
    root, version = split_ref(uri)
    if is_table(root):
        require_delta(spark)
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(uris.to_physical(root))
    if version is None and (uris.list_files(root) or (uris.exists(root) and any(
            not n.startswith(("_", ".")) for n in uris.list_names(root)))):
        return spark.read.parquet(uris.to_physical(root))
    if required:
        raise FileNotFoundError(f"no dataset at {uri}" + (" (no such table)" if version is not None else ""))
    return None


def history(spark: SparkSession, uri: str, limit: int = 1) -> list[dict[str, Any]]:
    """The newest ``limit`` commits of a table, newest first: ``version``, ``operation``, ``operationMetrics``
    (ints), ``metadata`` (the writer's metadata, decoded) and ``timestamp``. Empty when there is no table."""
    root = split_ref(uri)[0]
    if not is_table(root):
        return []
    require_delta(spark)
    rows = spark.sql(f"DESCRIBE HISTORY {_table(root)} LIMIT {int(limit)}").collect()
    commits = []
    for row in rows:
        metrics = {k: int(v) for k, v in (row["operationMetrics"] or {}).items() if str(v).lstrip("-").isdigit()}
        try:
            metadata = json.loads(row["userMetadata"]) if row["userMetadata"] else {}
        except ValueError:
            metadata = {"userMetadata": row["userMetadata"]}
        commits.append({"version": int(row["version"]), "operation": row["operation"], "operationMetrics": metrics,
                        "metadata": metadata, "timestamp": row["timestamp"].isoformat()})
    return commits


def latest_version(spark: SparkSession, uri: str) -> int | None:
    commits = history(spark, uri)
    return commits[0]["version"] if commits else None


def _commit_metadata(metadata: dict[str, Any]) -> tuple[str, str]:
    commit_id = uuid.uuid4().hex
    return commit_id, json.dumps({**metadata, "commitId": commit_id}, sort_keys=True, default=str)


def _own_commit(spark: SparkSession, root: str, commit_id: str) -> dict[str, Any]:
    """The commit this writer made (found by its id among the newest, in case another writer committed since)."""
    for commit in history(spark, root, limit=20):
        if commit["metadata"].get("commitId") == commit_id:
            return commit
    raise RuntimeError(f"{root}: the commit {commit_id} is not among the table's newest 20 (a concurrent writer?)")


def _retention_properties(days: int) -> dict[str, str]:
    return {"delta.logRetentionDuration": f"interval {int(days)} days",
            "delta.deletedFileRetentionDuration": f"interval {int(days)} days"}


def _new_table_defaults(properties: dict[str, str]) -> dict[str, str]:
    return {f"spark.databricks.delta.properties.defaults.{key.removeprefix('delta.')}": value
            for key, value in properties.items()}


def _table_properties(spark: SparkSession, root: str) -> dict[str, str]:
    return {r["key"]: r["value"] for r in spark.sql(f"SHOW TBLPROPERTIES {_table(root)}").collect()}


def _set_table_properties(spark: SparkSession, root: str, wanted: dict[str, str]) -> None:
    current = _table_properties(spark, root)
    if any(current.get(k) != v for k, v in wanted.items()):
        spark.sql(f"ALTER TABLE {_table(root)} SET TBLPROPERTIES ("
                  + ", ".join(f"'{k}' = '{v}'" for k, v in wanted.items()) + ")")


def expire(spark: SparkSession, root: str, retention_days: int) -> None:
    """Makes the table keep ``retention_days`` of history and deletes the files only older versions need."""
    _set_table_properties(spark, root, _retention_properties(retention_days))
    hours = int(retention_days) * 24
    check = "spark.databricks.delta.retentionDurationCheck.enabled"
    logging = "spark.databricks.delta.vacuum.logging.enabled"
    previous = spark.conf.get(check, "true"), spark.conf.get(logging, "true")
    if hours < _DELTA_MIN_RETENTION_HOURS:
        spark.conf.set(check, "false")  # the configured retention is the caller's explicit choice
    spark.conf.set(logging, "false")  # a table's versions are its data commits
    try:
        try:
            spark.sql(f"VACUUM {_table(root)} RETAIN {hours} HOURS LITE")
        except Exception as error:  # noqa: BLE001 - LITE needs the log since the last vacuum; FULL lists the files
            log.info("vacuum lite of %s not possible (%s); full vacuum", root, str(error).splitlines()[0][:200])
            spark.sql(f"VACUUM {_table(root)} RETAIN {hours} HOURS")
    finally:
        spark.conf.set(check, previous[0])
        spark.conf.set(logging, previous[1])


def write_dataset(df: DataFrame, root: str, partition_by: Iterable[str] | None = None,
                  retention_days: int | None = None, table_properties: dict[str, str] | None = None,
                  **metadata: Any) -> str:
    """Commits ``df`` as the whole content of the table at ``root`` (created if absent, with ``table_properties``;
    a new version otherwise) and returns the committed version's reference ``<root>@v<N>``. ``metadata`` goes
    into the commit."""
    root = split_ref(root)[0]
    return version_ref(root, _write(df, root, partition_by, retention_days, table_properties, metadata)["version"])


def _write(df: DataFrame, root: str, partition_by: Iterable[str] | None, retention_days: int | None,
           table_properties: dict[str, str] | None, metadata: dict[str, Any]) -> dict[str, Any]:
    """:func:`write_dataset`'s commit (as :func:`history` describes it)."""
    spark = df.sparkSession
    require_delta(spark)
    root = split_ref(root)[0]
    retention_days = _retention_days if retention_days is None else retention_days
    commit_id, user_metadata = _commit_metadata(metadata)
    writer = (df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
              .option("userMetadata", user_metadata))
    partition_by = list(partition_by or [])
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    defaults = _new_table_defaults({**_retention_properties(retention_days), **(table_properties or {})})
    # an overwrite of an empty table with no rows is still a version (and carries the writer's metadata)
    defaults["spark.databricks.delta.skipRecordingEmptyCommits"] = "false"
    previous = {key: spark.conf.get(key, None) for key in defaults}
    for key, value in defaults.items():
        spark.conf.set(key, value)
    try:
        writer.save(uris.to_physical(root))
    finally:
        for key, value in previous.items():
            spark.conf.unset(key) if value is None else spark.conf.set(key, value)
    commit = _own_commit(spark, root, commit_id)
    log.info("committed %s version %s (%s)", root, commit["version"], commit["operation"])
    expire(spark, root, retention_days)
    return commit


def merge_dataset(source: DataFrame, root: str, keys: Iterable[str], changed: str | None = None,
                  partition_by: Iterable[str] | None = None, retention_days: int | None = None,
                  sums: Iterable[str] = (), **metadata: Any) -> tuple[str, dict[str, Any]]:
    """Upserts ``source`` (one row per key) into the table at ``root`` by a Delta MERGE on ``keys``: a source row
    whose key the table lacks is inserted; one whose key it holds replaces that row when ``changed`` (SQL over
    ``t.`` target and ``s.`` source columns; default: always) holds. The rows that would change nothing are left out
    of the MERGE (Delta touches every file with a matched row, whatever its condition says), and nothing is
    committed when no row changes. The table has deletion vectors: a replaced row is marked deleted in its file (a
    small deletion-vector file) and written anew with the batch, so the MERGE writes what the batch changes, not the
    files it touches. Creates the table when absent. ``sums``: columns of ``source`` that are counted, not stored.

    Returns the reference of the version holding the result and its counts: ``inserted``, ``updated``, ``sums``
    (each ``sums`` column summed over all of ``source``) and the ``commit`` (``None`` without one; its
    ``operationMetrics``: numTargetFilesAdded, numTargetDeletionVectorsAdded, …).
    """
    from pyspark import StorageLevel
    from pyspark.sql import Observation, functions as F

    spark = source.sparkSession
    require_delta(spark)
    root = split_ref(root)[0]
    sums = list(sums)
    totals = [F.coalesce(F.sum(c), F.lit(0)).alias(c) for c in sums]
    if not is_table(root):
        observation = Observation()
        observed = source.observe(observation, F.count(F.lit(1)).alias("_rows"), *totals).drop(*sums)
        commit = _write(observed, root, partition_by, retention_days, DELETION_VECTORS, metadata)
        counted = observation.get
        return version_ref(root, commit["version"]), {"inserted": int(counted["_rows"]), "updated": 0, "sums": {c: int(counted[c]) for c in sums},
                     "commit": commit}
    _set_table_properties(spark, root, DELETION_VECTORS)
    keys = list(keys)
    retention_days = _retention_days if retention_days is None else retention_days
    commit_id, user_metadata = _commit_metadata(metadata)
    view = f"merge_source_{commit_id}"
    on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
    source.createOrReplaceTempView(view)
    try:
        # one pass over the batch joined to the table's keys, kept for the MERGE: counts, then the changed rows
        joined = spark.sql(
            f"SELECT s.*, t.`{keys[0]}` IS NULL AS _is_new, "
            f"coalesce(t.`{keys[0]}` IS NULL OR ({changed or 'true'}), false) AS _changed "
            f"FROM {view} s LEFT JOIN {_table(root)} t ON {on}"
        ).persist(StorageLevel.MEMORY_AND_DISK)
    finally:
        spark.catalog.dropTempView(view)
    try:
        counted = joined.groupBy("_is_new", "_changed").agg(F.count(F.lit(1)).alias("_rows"), *totals).collect()
        inserted = sum(r["_rows"] for r in counted if r["_is_new"])
        updated = sum(r["_rows"] for r in counted if r["_changed"] and not r["_is_new"])
        summed = {c: int(sum(r[c] for r in counted)) for c in sums}
        if inserted + updated == 0:
            log.info("merge into %s: no row changes, nothing committed", root)
            return version_ref(root, latest_version(spark, root)), {"inserted": 0, "updated": 0, "sums": summed,
                                                                    "commit": None}
        joined.where("_changed").drop("_is_new", "_changed", *sums).createOrReplaceTempView(view)
        key = "spark.databricks.delta.commitInfo.userMetadata"
        spark.conf.set(key, user_metadata)
        try:
            spark.sql(f"MERGE INTO {_table(root)} AS t USING {view} AS s ON {on.replace('<=>', '=')} "
                      f"WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *")
        finally:
            spark.conf.unset(key)
            spark.catalog.dropTempView(view)
    finally:
        joined.unpersist()
    commit = _own_commit(spark, root, commit_id)
    log.info("merged into %s: version %s, %s", root, commit["version"], commit["operationMetrics"])
    expire(spark, root, retention_days)
    return version_ref(root, commit["version"]), {"inserted": inserted, "updated": updated, "sums": summed,
                                                  "commit": commit}
