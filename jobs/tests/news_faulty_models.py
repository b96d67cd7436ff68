"""A real embedder that fails for chosen articles: injects inference failures into the news job's tests."""
from __future__ import annotations

from jobs.news.embedding import SentenceEmbedder

POISON = "POISON"


class FaultyEmbedder(SentenceEmbedder):
    def embed(self, texts):
        if any(POISON in t for t in texts):
            raise RuntimeError("model server rejected the input")
        return super().embed(texts)
