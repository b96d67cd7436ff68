"""The result JSON every job writes to ``--result-uri`` (schema in docs/CONTRACTS.md, "Result JSON")."""
from __future__ import annotations

import json
import math
import time
from datetime import datetime, timezone
from typing import Any

from jobs.common import uris
from jobs.common.log import get_logger

log = get_logger(__name__)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN/inf become null (JSON has no NaN), numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


class JobResult:
    def __init__(self, job: str, result_uri: str | None):
        self.job = job
        self.result_uri = result_uri
        self.started = time.time()
        self.counts: dict[str, Any] = {}
        self.metrics: dict[str, Any] = {}
        self.outputs: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}

    def to_dict(self, status: str, error: str | None) -> dict[str, Any]:
        finished = time.time()
        body = {
            "job": self.job,
            "status": status,
            "startedAt": _iso(self.started),
            "finishedAt": _iso(finished),
            "durationSeconds": round(finished - self.started, 3),
            "counts": self.counts,
            "metrics": self.metrics,
            "outputs": self.outputs,
            "error": error,
        }
        body.update(self.extra)
        return _clean(body)

    def write(self, status: str, error: str | None = None) -> dict[str, Any]:
        body = self.to_dict(status, error)
        if self.result_uri:
            try:
                uris.write_text(self.result_uri, json.dumps(body, indent=2, sort_keys=True) + "\n")
                log.info("result %s written to %s", status, self.result_uri)
            except Exception:  # noqa: BLE001 - the job's own outcome decides the exit code
                log.exception("could not write the result to %s", self.result_uri)
        return body
