"""Trains the news topic classifier: multinomial logistic regression over all-MiniLM-L6-v2 article embeddings.

extract   labelled articles (`title`, `content`, `label`): a Parquet dataset URI or JSON lines (`*.jsonl`).
transform embeddings (batched, `jobs.news.enrich.embed_articles`) → seeded train/test split → Spark ML
          `LogisticRegression(family="multinomial")`; accuracy and weighted F1 on the held-out split with
          `MulticlassClassificationEvaluator`.
load      `<model-root>/versions/<version>/`: the Spark ML model (`spark-model/`) and `topic_model.json`
          (labels, coefficient matrix, intercepts, embedding model version, metrics) that ml_processing applies
          in its Python workers. `outputs.model` names the version; promotion (`topic/current.json`) is the
          pipeline's promote step.
"""
from __future__ import annotations

import json
import os
import sys

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jobs.common import datasets, uris  # noqa: E402
from jobs.common.cli import ArgumentError, JobContext, fraction, new_parser, non_negative_float, positive_int, run_job  # noqa: E402
from jobs.common.log import get_logger  # noqa: E402
from jobs.news.embedding import DEFAULT_PRECISION, DIMENSION, PRECISIONS  # noqa: E402
from jobs.news.enrich import ModelConfig, embed_articles, models_for  # noqa: E402

JOB = "train_topic_model"
log = get_logger(f"jobs.{JOB}")


def read_labelled(spark, uri: str, label_column: str):
    if uri.endswith((".jsonl", ".json")):
        df = spark.read.json(uris.to_physical(uri))
    else:
        df = datasets.read_dataset(spark, uri)
    missing = [c for c in ("title", "content", label_column) if c not in df.columns]
    if missing:
        raise ArgumentError("--input", f"dataset lacks columns: {', '.join(missing)}")
    return df.select("title", "content", df[label_column].alias("label")).filter("label IS NOT NULL")


def train(df, config: ModelConfig, test_fraction: float, seed: int, reg_param: float, max_iter: int):
    """(topic_model dict, metrics, spark model). Pure apart from the model fit."""
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.evaluation import MulticlassClassificationEvaluator
    from pyspark.ml.feature import StringIndexer
    from pyspark.ml.functions import array_to_vector

    embedded = embed_articles(df, config).select("label", array_to_vector("embedding").alias("features"))
    indexer = StringIndexer(inputCol="label", outputCol="label_index", stringOrderType="alphabetAsc").fit(embedded)
    indexed = indexer.transform(embedded).cache()
    train_df, test_df = indexed.randomSplit([1 - test_fraction, test_fraction], seed=seed)
    lr = LogisticRegression(featuresCol="features", labelCol="label_index", family="multinomial",
                            regParam=reg_param, maxIter=max_iter)
    model = lr.fit(train_df)
    predictions = model.transform(test_df)
    metrics = {}
    for name in ("accuracy", "f1"):
        evaluator = MulticlassClassificationEvaluator(labelCol="label_index", predictionCol="prediction",
                                                      metricName=name)
        metrics[name] = round(evaluator.evaluate(predictions), 4) if test_df.head(1) else None
    metrics.update(trainRows=train_df.count(), testRows=test_df.count())
    indexed.unpersist()
    topic_model = {
        "labels": list(indexer.labels),
        "coefficients": model.coefficientMatrix.toArray().tolist(),
        "intercepts": model.interceptVector.toArray().tolist(),
        "dimension": DIMENSION,
        "embedding": models_for(config).embedder.version,
        "metrics": metrics,
    }
    return topic_model, metrics, model


def build_parser():
    parser = new_parser(JOB, "Trains the topic classifier over article embeddings.")
    parser.add_argument("--input", required=True, help="labelled articles: dataset URI or *.jsonl")
    parser.add_argument("--model-root", required=True, help="topic model root (versions/<version>/ is written)")
    parser.add_argument("--models-dir", help="embedding model directory (default ./models, else assets/models)")
    parser.add_argument("--embedding-precision", choices=PRECISIONS, default=DEFAULT_PRECISION,
                        help="embedding model the classifier is trained on (use the one ml_processing runs)")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--test-fraction", type=fraction, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--reg-param", type=non_negative_float, default=0.01)
    parser.add_argument("--max-iter", type=positive_int, default=100)
    return parser


def main(args, ctx: JobContext) -> None:
    spark = ctx.spark
    models_dir = args.models_dir or ("models" if os.path.isdir("models") else None)
    config = ModelConfig(models_dir=models_dir, precision=args.embedding_precision)
    df = read_labelled(spark, args.input, args.label_column)
    labels = [r["label"] for r in df.select("label").distinct().collect()]
    if len(labels) < 2:
        raise ArgumentError("--input", f"needs at least two labels, found {labels}")
    topic_model, metrics, model = train(df, config, args.test_fraction, args.seed, args.reg_param, args.max_iter)
    version = datasets.new_version_id()
    version_uri = uris.join_uri(args.model_root, "versions", version)
    topic_model["version"] = f"logreg:{version}"
    model.write().save(uris.to_physical(uris.join_uri(version_uri, "spark-model")))
    uris.write_text(uris.join_uri(version_uri, "topic_model.json"), json.dumps(topic_model))
    ctx.counts.update(valid=metrics["trainRows"] + metrics["testRows"], rejected=0, written=1)
    ctx.metrics.update(**{k: v for k, v in metrics.items()}, labels=topic_model["labels"])
    ctx.outputs.update(model=version_uri)


def cli(argv=None) -> int:
    return run_job(JOB, build_parser, main, argv)


if __name__ == "__main__":
    sys.exit(cli())
