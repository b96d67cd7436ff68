"""Versioned ALS models: ``<model-root>/versions/<version>/{model/, metadata.json}`` and the promoted pointer."""
from __future__ import annotations

import json
import os
import subprocess

from pyspark.ml.recommendation import ALSModel

from jobs.common import uris

MODEL_DIR = "model"
METADATA = "metadata.json"


def model_path(model_uri: str) -> str:
    """The saved ALSModel inside a version directory (or ``model_uri`` itself if it is a bare saved model)."""
    inner = uris.join_uri(model_uri, MODEL_DIR)
    return inner if uris.exists(uris.join_uri(inner, "metadata")) else model_uri


def load_model(model_uri: str) -> ALSModel:
    if not uris.exists(model_uri):
        raise FileNotFoundError(f"no model at {model_uri}")
    return ALSModel.load(uris.to_physical(model_path(model_uri)))


def read_metadata(model_uri: str) -> dict | None:
    uri = uris.join_uri(model_uri, METADATA)
    return json.loads(uris.read_text(uri)) if uris.exists(uri) else None


def current_model_uri(pointer_uri: str | None) -> str | None:
    """``modelUri`` of a promoted-model pointer JSON, or None when there is no pointer."""
    if not pointer_uri or not uris.exists(pointer_uri):
        return None
    pointer = json.loads(uris.read_text(pointer_uri))
    model_uri = pointer.get("modelUri")
    if not model_uri:
        raise ValueError(f"pointer {pointer_uri} has no modelUri")
    return model_uri


def code_version() -> str:
    """``JOBS_CODE_VERSION`` (set by packaging), else the git commit of the checkout, else "unknown"."""
    if os.environ.get("JOBS_CODE_VERSION"):
        return os.environ["JOBS_CODE_VERSION"]
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        return subprocess.run(["git", "-C", here, "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5, check=True).stdout.strip() or "unknown"
    except Exception:  # noqa: BLE001 - not a git checkout (EMR)
        return "unknown"
