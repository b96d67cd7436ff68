"""Versioned datasets with an atomically replaced pointer (see docs/CONTRACTS.md, "Versioned datasets").

Layout of a dataset root::

    <root>/_versions/<version id>/...parquet      complete, immutable versions
    <root>/_CURRENT                               {"version", "path", "committedAt", ...}

A writer writes a whole new version directory and only then replaces ``_CURRENT`` (``os.replace`` locally, one
PUT on S3), so a failure at any point before the pointer write leaves readers on the previous version; a reader
never sees a half-written version and no job overwrites a path it is reading. ``outputs.dataset`` in a job
result is the version directory, which ``spark.read.parquet`` reads as exactly the committed data.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any, Iterable

from pyspark.sql import DataFrame, SparkSession

from jobs.common import uris
from jobs.common.log import get_logger

POINTER = "_CURRENT"
VERSIONS = "_versions"
DEFAULT_KEEP_VERSIONS = 3

log = get_logger(__name__)


def new_version_id(now: datetime | None = None) -> str:
    """Sortable, unique id: UTC timestamp to the microsecond plus a random suffix."""
    now = now or datetime.now(timezone.utc)
    return now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:6]


def new_version_uri(root: str) -> tuple[str, str]:
    version = new_version_id()
    return version, uris.join_uri(root, VERSIONS, version)


def pointer_uri(root: str) -> str:
    return uris.join_uri(root, POINTER)


def read_pointer(root: str) -> dict[str, Any] | None:
    uri = pointer_uri(root)
    if not uris.exists(uri):
        return None
    return json.loads(uris.read_text(uri))


def commit_version(root: str, version_uri: str, version: str | None = None, **extra: Any) -> dict[str, Any]:
    """Makes ``version_uri`` the current version of ``root`` (single atomic pointer replacement)."""
    pointer = {
        "version": version or version_uri.rstrip("/").rsplit("/", 1)[-1],
        "path": version_uri,
        "committedAt": datetime.now(timezone.utc).isoformat(),
        **extra,
    }
    uris.write_text(pointer_uri(root), json.dumps(pointer, sort_keys=True))
    log.info("committed %s -> %s", root, version_uri)
    return pointer


def resolve_dataset(uri: str) -> str | None:
    """The directory holding the committed data of ``uri``.

    ``uri`` may be a dataset root with a pointer (→ its current version), a version directory or a plain Parquet
    directory written by something else (→ itself). ``None`` when nothing is there.
    """
    pointer = read_pointer(uri)
    if pointer is not None:
        return pointer["path"]
    if uris.list_files(uri) or (uris.exists(uri) and any(
            not n.startswith(("_", ".")) for n in uris.list_names(uri))):
        return uri
    return None


def read_dataset(spark: SparkSession, uri: str, required: bool = True) -> DataFrame | None:
    resolved = resolve_dataset(uri)
    if resolved is None:
        if required:
            raise FileNotFoundError(f"no dataset at {uri}")
        return None
    return spark.read.parquet(uris.to_physical(resolved))


def write_dataset(df: DataFrame, root: str, partition_by: Iterable[str] | None = None,
                  keep_versions: int = DEFAULT_KEEP_VERSIONS, **pointer_extra: Any) -> str:
    """Writes ``df`` as a new version of ``root`` and commits it; returns the version directory URI.

    On failure the partial version directory is removed (best effort) and the pointer is untouched.
    """
    version, version_uri = new_version_uri(root)
    writer = df.write.mode("errorifexists")
    partition_by = list(partition_by or [])
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    try:
        writer.parquet(uris.to_physical(version_uri))
    except BaseException:
        try:
            uris.delete(version_uri)
        except Exception:  # noqa: BLE001 - cleanup must not hide the write error
            log.warning("could not remove partial version %s", version_uri)
        raise
    commit_version(root, version_uri, version, **pointer_extra)
    prune_versions(root, keep_versions)
    return version_uri


def prune_versions(root: str, keep: int) -> list[str]:
    """Deletes all but the newest ``keep`` versions (never the current one); returns the deleted ids."""
    if keep <= 0:
        return []
    pointer = read_pointer(root)
    current = pointer["version"] if pointer else None
    versions = [v for v in uris.list_names(uris.join_uri(root, VERSIONS)) if not v.startswith(".")]
    doomed = [v for v in sorted(versions)[:-keep] if v != current]
    for version in doomed:
        uris.delete(uris.join_uri(root, VERSIONS, version))
    return doomed
