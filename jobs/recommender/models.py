"""Versioned ALS models: ``<model-root>/versions/<version>/{model/ | ranking/ + rating/, metadata.json}`` and the
promoted pointer.

A version serves two roles: ``ranking`` (top-K recommendations, ranking metrics) and ``rating`` (rating predictions:
RMSE/MAE, drift). One ALS serves both in ``model/``; a version trained for both roles separately holds
``ranking/`` and ``rating/`` (see jobs/train.py).
"""
from __future__ import annotations

import json
import os
import subprocess

from pyspark.ml.recommendation import ALSModel

from jobs.common import uris

MODEL_DIR = "model"
RANKING_DIR = "ranking"
RATING_DIR = "rating"
ROLES = {"ranking": RANKING_DIR, "rating": RATING_DIR}
METADATA = "metadata.json"


def model_path(model_uri: str, role: str = "ranking") -> str:
    """The saved ALSModel of ``role`` inside a version directory: ``<role>/``, else the shared ``model/``, else
    ``model_uri`` itself (a bare saved model)."""
    for inner in (uris.join_uri(model_uri, ROLES[role]), uris.join_uri(model_uri, MODEL_DIR)):
        if uris.exists(uris.join_uri(inner, "metadata")):
            return inner
    return model_uri


def load_model(model_uri: str, role: str = "ranking") -> ALSModel:
    if role not in ROLES:
        raise ValueError(f"role: must be one of {', '.join(ROLES)}, got {role!r}")
    if not uris.exists(model_uri):
        raise FileNotFoundError(f"no model at {model_uri}")
    return ALSModel.load(uris.to_physical(model_path(model_uri, role)))


def load_roles(model_uri: str) -> tuple[ALSModel, ALSModel]:
    """(ranking model, rating model) of a version — the same object when one ALS serves both."""
    ranking = load_model(model_uri, "ranking")
    if model_path(model_uri, "rating") == model_path(model_uri, "ranking"):
        return ranking, ranking
    return ranking, load_model(model_uri, "rating")


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
