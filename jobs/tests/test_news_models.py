"""The news models: embeddings, sentiment, topic (zero-shot and trained), and the train_topic_model job."""
from __future__ import annotations

import json

import numpy as np
import pytest

from jobs import ml_processing, train_topic_model
from jobs.news.embedding import SentenceEmbedder
from jobs.news.enrich import ModelConfig, enrich_texts_locally
from jobs.news.sample import generate
from jobs.news.sentiment import SentimentScorer, label_for
from jobs.news.topic import LogisticTopicClassifier


@pytest.fixture(scope="module")
def embedder():
    # the fp32 graph: these tests hold it to the reference implementation (±0.001); int8: test_news_int8.py
    return SentenceEmbedder(precision="fp32")


def test_embeddings_are_384d_unit_vectors_and_rank_paraphrases_above_unrelated(embedder):
    pairs = [
        ("Stocks fell sharply after the central bank raised interest rates.",
         "Share prices dropped steeply when the central bank increased rates.",
         "The striker scored twice in the cup final."),
        ("Scientists discovered water on a distant planet.",
         "Researchers found evidence of water on a faraway exoplanet.",
         "The government announced a new tax on sugary drinks."),
        ("A new vaccine protects children against measles.",
         "Kids are shielded from measles by a newly developed vaccine.",
         "The band released its third album on Friday."),
    ]
    texts = [t for triple in pairs for t in triple]
    vectors = embedder.embed(texts)
    assert vectors.shape == (9, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    for i in range(3):
        anchor, paraphrase, unrelated = vectors[3 * i:3 * i + 3]
        assert anchor @ paraphrase > 0.6
        assert anchor @ paraphrase > anchor @ unrelated + 0.4


def test_embedding_matches_the_published_reference_similarities(embedder):
    # sentence-transformers quickstart, all-MiniLM-L6-v2: 0.6660, 0.1046, 0.1411
    v = embedder.embed(["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."])
    assert v[0] @ v[1] == pytest.approx(0.6660, abs=1e-3)
    assert v[0] @ v[2] == pytest.approx(0.1046, abs=1e-3)
    assert v[1] @ v[2] == pytest.approx(0.1411, abs=1e-3)


def test_embedding_does_not_depend_on_batch_composition(embedder):
    text = "The council approved the new budget after a long debate."
    alone = embedder.embed([text])[0]
    batched = embedder.embed(["short", text, "a much longer sentence " * 20])[1]
    np.testing.assert_allclose(alone, batched, atol=1e-5)


def test_sentiment_thresholds_and_clear_cases():
    assert label_for(0.05) == "positive" and label_for(0.0499) == "neutral"
    assert label_for(-0.05) == "negative" and label_for(-0.0499) == "neutral"
    scorer = SentimentScorer()
    label, score = scorer.score("What a wonderful, happy day: a great and excellent success!")
    assert label == "positive" and score > 0.8
    label, score = scorer.score("A horrible, tragic disaster; the victims are sad and angry.")
    assert label == "negative" and score < -0.8
    assert scorer.score("The meeting is scheduled for Tuesday at the town hall.") == ("neutral", 0.0)


def test_zero_shot_topic_on_sample_articles_has_real_scores():
    articles = generate(80, seed=21)
    out = enrich_texts_locally([a["title"] for a in articles], [a["content"] for a in articles], ModelConfig())
    accuracy = np.mean([t == a["label"] for t, a in zip(out["topic"], articles)])
    assert accuracy > 0.8
    scores = out["topic_score"].astype(float)
    assert scores.between(-1, 1).all() and scores.std() > 0.01


def test_logistic_classifier_softmax():
    model = LogisticTopicClassifier({"labels": ["A", "B"], "coefficients": [[1.0, 0.0], [0.0, 1.0]],
                                     "intercepts": [0.0, 0.0], "dimension": 2})
    labels, probs = model.predict(np.array([[2.0, 0.0], [0.0, 1.0]]))
    assert labels == ["A", "B"]
    assert probs[0] == pytest.approx(np.exp(2) / (np.exp(2) + 1))


def test_train_topic_model_then_ml_processing_uses_it(spark, local_s3, tmp_path):
    from jobs.common import datasets

    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text("\n".join(json.dumps(a) for a in generate(160, seed=4)) + "\n")
    result_path = tmp_path / "train.json"
    code = train_topic_model.cli(["--input", str(labelled), "--model-root", "s3://models/topic",
                                  "--result-uri", str(result_path)])
    result = json.loads(result_path.read_text())
    assert code == 0, result
    assert result["metrics"]["accuracy"] > 0.85 and result["metrics"]["testRows"] > 10
    model_uri = result["outputs"]["model"]
    assert model_uri.startswith("s3://models/topic/versions/")
    stored = json.loads((local_s3 / model_uri[len("s3://"):] / "topic_model.json").read_text())
    assert len(stored["labels"]) == 8 and np.array(stored["coefficients"]).shape == (8, 384)

    pointer = local_s3 / "models/topic/current.json"
    pointer.write_text(json.dumps({"modelUri": model_uri}))
    source, sink = "s3://lake/bronze/news/articles", "s3://lake/gold/news/articles"
    articles = generate(16, seed=77, start_id=1000)
    datasets.write_dataset(spark.createDataFrame([{k: a[k] for k in ("id", "title", "content")} for a in articles]),
                           source)
    out = tmp_path / "ml.json"
    code = ml_processing.cli(["--source", source, "--sink", sink, "--topic-pointer", "s3://models/topic/current.json",
                              "--result-uri", str(out)])
    body = json.loads(out.read_text())
    assert code == 0, body
    assert body["metrics"]["modelVersions"]["topic"] == stored["version"]
    rows = datasets.read_dataset(spark, sink).toPandas()
    assert rows["topic_score"].between(0, 1).all()  # probabilities
    assert np.mean([t == a["label"] for t, a in zip(rows.sort_values("id")["topic"], articles)]) > 0.8
