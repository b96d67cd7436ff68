"""Batched enrichment of articles: embedding → topic, and sentiment, inside Spark Python workers.

`enrich(df, config)` is the pure Spark transform (`mapInPandas`, Arrow batches). The models are built once per
Python worker process (cached by the config's key) and reused by every batch and task the worker runs.

Failure isolation: a batch whose embedding call fails is retried row by row, so one bad article costs only its
own row: that row gets `ml_error` and NULL predictions for the failed models — never a default value.
"""
from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np

from jobs.news.embedding import DEFAULT_PRECISION
from jobs.news.topic import DEFAULT_LABELS, LogisticTopicClassifier, ZeroShotTopicClassifier

OUTPUT_SCHEMA = (
    "id long, topic string, topic_score float, sentiment string, sentiment_score float, "
    "embedding array<float>, ml_model_version string, ml_error string"
)
MAX_CONTENT_CHARS = 2000  # the embedding model truncates at 256 tokens anyway; VADER gets the lead paragraphs


@dataclass(frozen=True)
class ModelConfig:
    """Everything a worker needs to build the models; small and picklable (shipped with the task closure)."""

    models_dir: str | None = None
    labels: tuple[str, ...] = DEFAULT_LABELS
    topic_model_json: str | None = None  # contents of a trained topic_model.json, or None → zero-shot
    embedder_factory: str = "jobs.news.embedding:SentenceEmbedder"
    batch_size: int = 64
    threads: int = 1
    precision: str = DEFAULT_PRECISION  # embedding model: "int8" (model_int8.onnx) or "fp32" (model.onnx)
    extra: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def key(self) -> str:
        return json.dumps([self.models_dir, self.labels, self.topic_model_json, self.embedder_factory,
                           self.batch_size, self.threads, self.precision, sorted(self.extra.items())])


class Models:
    def __init__(self, config: ModelConfig):
        from jobs.news.sentiment import SentimentScorer

        module, _, name = config.embedder_factory.partition(":")
        factory = getattr(importlib.import_module(module), name)
        self.embedder = factory(config.models_dir, threads=config.threads, batch_size=config.batch_size,
                                precision=config.precision, **config.extra)
        self.sentiment = SentimentScorer()
        if config.topic_model_json:
            self.topic = LogisticTopicClassifier.from_json(config.topic_model_json)
        else:
            self.topic = ZeroShotTopicClassifier(config.labels, self.embedder.embed, self.embedder.version)
        self.version = json.dumps({"embedding": self.embedder.version, "sentiment": self.sentiment.version,
                                   "topic": self.topic.version}, separators=(",", ":"))


_WORKER_MODELS: dict[str, Models] = {}


def models_for(config: ModelConfig) -> Models:
    """The worker-process singleton for `config` (built on first use)."""
    models = _WORKER_MODELS.get(config.key)
    if models is None:
        models = _WORKER_MODELS[config.key] = Models(config)
    return models


def article_text(title: object, content: object) -> str:
    title = title if isinstance(title, str) else ""
    content = content if isinstance(content, str) else ""
    text = f"{title.strip()}. {content.strip()[:MAX_CONTENT_CHARS]}" if content.strip() else title.strip()
    return text


def _embed_isolating_failures(models: Models, texts: list[str]) -> tuple[np.ndarray, list[str | None]]:
    try:
        return models.embedder.embed(texts), [None] * len(texts)
    except Exception:  # noqa: BLE001 - fall back to one row at a time to find the failing rows
        vectors = np.full((len(texts), 384), np.nan, dtype=np.float32)
        errors: list[str | None] = [None] * len(texts)
        for i, text in enumerate(texts):
            try:
                vectors[i] = models.embedder.embed([text])[0]
            except Exception as exc:  # noqa: BLE001
                errors[i] = f"embedding: {type(exc).__name__}: {exc}"[:500]
        return vectors, errors


def enrich_frame(pdf, models: Models):
    """pandas → pandas: one output row per input row (columns of OUTPUT_SCHEMA)."""
    import pandas as pd

    texts = [article_text(t, c) for t, c in zip(pdf["title"], pdf["content"])]
    vectors, errors = _embed_isolating_failures(models, texts)
    ok = np.array([e is None for e in errors])
    topics: list[str | None] = [None] * len(texts)
    topic_scores: list[float | None] = [None] * len(texts)
    if ok.any():
        try:
            labels, scores = models.topic.predict(vectors[ok])
            for j, i in enumerate(np.flatnonzero(ok)):
                topics[i], topic_scores[i] = labels[j], float(scores[j])
        except Exception as exc:  # noqa: BLE001
            for i in np.flatnonzero(ok):
                errors[i] = f"topic: {type(exc).__name__}: {exc}"[:500]
    sentiments: list[str | None] = [None] * len(texts)
    sentiment_scores: list[float | None] = [None] * len(texts)
    for i, text in enumerate(texts):
        try:
            sentiments[i], sentiment_scores[i] = models.sentiment.score(text)
        except Exception as exc:  # noqa: BLE001
            errors[i] = "; ".join(filter(None, [errors[i], f"sentiment: {type(exc).__name__}: {exc}"[:500]]))
    embeddings = [vectors[i] if ok[i] else None for i in range(len(texts))]
    return pd.DataFrame({
        "id": pdf["id"].astype("int64").to_numpy(),
        "topic": topics,
        "topic_score": pd.array(topic_scores, dtype="Float32"),
        "sentiment": sentiments,
        "sentiment_score": pd.array(sentiment_scores, dtype="Float32"),
        "embedding": embeddings,
        "ml_model_version": models.version,
        "ml_error": errors,
    })


def enrich(df, config: ModelConfig):
    """DataFrame(id, title, content, …) → DataFrame(OUTPUT_SCHEMA), batched through Arrow."""

    def run(batches: Iterator) -> Iterator:
        models = models_for(config)
        for pdf in batches:
            if len(pdf):
                yield enrich_frame(pdf, models)

    return df.select("id", "title", "content").mapInPandas(run, OUTPUT_SCHEMA)


def enrich_texts_locally(titles: Sequence[str], contents: Sequence[str], config: ModelConfig):
    """The same inference without Spark (benchmarks, sanity checks)."""
    import pandas as pd

    return enrich_frame(pd.DataFrame({"id": range(len(titles)), "title": titles, "content": contents}),
                        models_for(config))


def embed_articles(df, config: ModelConfig, text_columns: Sequence[str] = ("title", "content")):
    """DataFrame → same rows plus `embedding array<float>` (the article text embedding), batched through Arrow."""
    title_col, content_col = text_columns
    from pyspark.sql.types import ArrayType, FloatType, StructField, StructType

    schema = StructType(df.schema.fields + [StructField("embedding", ArrayType(FloatType()))])

    def run(batches: Iterator) -> Iterator:
        embedder = models_for(config).embedder
        for pdf in batches:
            if len(pdf):
                texts = [article_text(t, c) for t, c in zip(pdf[title_col], pdf[content_col])]
                pdf["embedding"] = list(embedder.embed(texts))
                yield pdf

    return df.mapInPandas(run, schema)
