"""Job logging: one line per record on stderr (EMR Serverless ships the driver's stderr to the log bucket)."""
from __future__ import annotations

import logging
import os
import sys

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_configured = False


def get_logger(name: str) -> logging.Logger:
    """Returns a logger under the ``jobs`` hierarchy; level from ``JOBS_LOG_LEVEL`` (default INFO)."""
    global _configured
    if not _configured:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
        root = logging.getLogger("jobs")
        root.addHandler(handler)
        root.setLevel(os.environ.get("JOBS_LOG_LEVEL", "INFO").upper())
        root.propagate = False
        _configured = True
    return logging.getLogger(name if name.startswith("jobs") else f"jobs.{name}")
