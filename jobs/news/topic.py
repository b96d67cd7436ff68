"""Topic classification over sentence embeddings.

* Trained: a multinomial logistic-regression model (`train_topic_model` job) stored as `topic_model.json`
  (labels, coefficient matrix, intercepts); `topic_score` is its softmax probability of the chosen label.
* Zero-shot (no trained model): cosine similarity between the article embedding and the embedding of a short
  description of each label; `topic_score` is that cosine similarity.
"""
from __future__ import annotations

import json
from typing import Callable, Sequence

import numpy as np

DEFAULT_LABELS = ("World", "Politics", "Business", "Technology", "Science", "Health", "Sports", "Entertainment")

LABEL_DESCRIPTIONS = {
    "World": "international news about foreign countries, diplomacy, wars, refugees and world affairs",
    "Politics": "politics: elections, government, parliament, political parties, laws and politicians",
    "Business": "business and economy: companies, markets, stocks, earnings, trade, banks and inflation",
    "Technology": "technology: software, computers, smartphones, the internet, artificial intelligence and gadgets",
    "Science": "science and research: physics, space exploration, biology, climate research and discoveries",
    "Health": "health and medicine: diseases, hospitals, doctors, vaccines, treatments and public health",
    "Sports": "sports: football, basketball, tennis, matches, teams, athletes, tournaments and championships",
    "Entertainment": "entertainment: movies, music, celebrities, television shows, concerts and the arts",
}


def describe(label: str) -> str:
    return f"This news article is about {LABEL_DESCRIPTIONS.get(label, label)}."


class ZeroShotTopicClassifier:
    def __init__(self, labels: Sequence[str], embed: Callable[[list[str]], np.ndarray], embedding_version: str):
        self.labels = list(labels)
        self.label_vectors = embed([describe(label) for label in self.labels]).astype(np.float32)
        self.version = f"zero-shot:{embedding_version}:{','.join(self.labels)}"

    def predict(self, embeddings: np.ndarray) -> tuple[list[str], np.ndarray]:
        similarity = embeddings @ self.label_vectors.T
        best = similarity.argmax(axis=1)
        return [self.labels[i] for i in best], similarity[np.arange(len(best)), best]


class LogisticTopicClassifier:
    def __init__(self, model: dict):
        self.labels = list(model["labels"])
        self.coefficients = np.asarray(model["coefficients"], dtype=np.float64)
        self.intercepts = np.asarray(model["intercepts"], dtype=np.float64)
        if self.coefficients.shape != (len(self.labels), model.get("dimension", self.coefficients.shape[1])):
            raise ValueError("topic model: coefficient matrix does not match its labels")
        self.version = model.get("version", "logreg")

    @classmethod
    def from_json(cls, text: str) -> "LogisticTopicClassifier":
        return cls(json.loads(text))

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        logits = embeddings.astype(np.float64) @ self.coefficients.T + self.intercepts
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, embeddings: np.ndarray) -> tuple[list[str], np.ndarray]:
        probs = self.probabilities(embeddings)
        best = probs.argmax(axis=1)
        return [self.labels[i] for i in best], probs[np.arange(len(best)), best]
