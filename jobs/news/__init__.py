"""News enrichment models: sentence embedding (ONNX), VADER sentiment, topic classification."""
