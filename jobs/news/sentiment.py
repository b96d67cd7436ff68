"""VADER sentiment with the standard compound-score thresholds (±0.05)."""
from __future__ import annotations

POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05
VERSION = "vader-3.3.2"


def label_for(compound: float) -> str:
    if compound >= POSITIVE_THRESHOLD:
        return "positive"
    if compound <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"


class SentimentScorer:
    def __init__(self):
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer = SentimentIntensityAnalyzer()
        self.version = VERSION

    def score(self, text: str) -> tuple[str, float]:
        """(label, compound score in [-1, 1])."""
        compound = float(self._analyzer.polarity_scores(text or "")["compound"])
        return label_for(compound), compound
