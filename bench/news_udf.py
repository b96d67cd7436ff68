"""Our batched enrichment (mapInPandas, models once per worker, one embedding per article) against the seed's
S0 design on the same articles and Spark session: three per-row Python UDFs (topic, sentiment, embedding), each
making one HTTP call per row to a model service (here a local service running the very same models), no caching
(the topic service embeds the text again). Both write to Spark's `noop` sink. Goal: ours ≥ 10× faster.

    flock /tmp/spark.lock .venv/bin/python bench/news_udf.py [--quick] [--articles N]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from news_common import Timer, spark_session  # noqa: E402

from jobs.news.enrich import ModelConfig, Models, article_text, enrich  # noqa: E402
from jobs.news.sample import generate  # noqa: E402


def start_model_service(models: Models) -> ThreadingHTTPServer:
    """Concurrent requests run concurrently (onnxruntime sessions are thread-safe), one core each."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def do_POST(self):
            text = json.loads(self.rfile.read(int(self.headers["content-length"])))["text"]
            if self.path == "/embed":
                body = {"embedding": models.embedder.embed([text])[0].tolist()}
            elif self.path == "/topic":
                labels, scores = models.topic.predict(models.embedder.embed([text]))
                body = {"topic": labels[0], "score": float(scores[0])}
            else:
                label, score = models.sentiment.score(text)
                body = {"sentiment": label, "score": score}
            payload = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def s0_style(df, base_url: str):
    """Three per-row UDFs, one HTTP call per row each, as the seed's job does."""
    from pyspark.sql import functions as F, types as T

    def call(path, text):
        import urllib.request

        request = urllib.request.Request(base_url + path, data=json.dumps({"text": text}).encode(),
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    topic = F.udf(lambda t, c: call("/topic", article_text(t, c))["topic"], T.StringType())
    sentiment = F.udf(lambda t, c: call("/sentiment", article_text(t, c))["sentiment"], T.StringType())
    embedding = F.udf(lambda t, c: call("/embed", article_text(t, c))["embedding"], T.ArrayType(T.FloatType()))
    return df.select("id", topic("title", "content").alias("topic"), sentiment("title", "content").alias("sentiment"),
                     embedding("title", "content").alias("embedding"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--articles", type=int)
    args = parser.parse_args()
    count = args.articles or (300 if args.quick else 2000)
    articles = generate(count, seed=5)
    spark = spark_session()
    df = spark.createDataFrame([(a["id"], a["title"], a["content"]) for a in articles], "id long, title string, content string") \
        .repartition(2).cache()
    df.count()

    # Warm up both paths (Python workers, model load) on a few rows so that steady-state speed is compared.
    config = ModelConfig(batch_size=64)
    enrich(df.limit(16), config).write.format("noop").mode("overwrite").save()
    with Timer() as ours:
        enrich(df, config).write.format("noop").mode("overwrite").save()

    service = start_model_service(Models(ModelConfig(threads=1)))
    base_url = f"http://127.0.0.1:{service.server_address[1]}"
    s0_style(df.limit(4), base_url).write.format("noop").mode("overwrite").save()
    with Timer() as s0:
        s0_style(df, base_url).write.format("noop").mode("overwrite").save()
    service.shutdown()
    speedup = s0.seconds / ours.seconds
    print(json.dumps({
        "benchmark": "news_udf", "articles": count,
        "oursSeconds": round(ours.seconds, 2), "s0PerRowUdfSeconds": round(s0.seconds, 2),
        "oursArticlesPerSecond": round(count / ours.seconds, 1), "s0ArticlesPerSecond": round(count / s0.seconds, 1),
        "speedup": round(speedup, 1), "goal": ">= 10", "pass": speedup >= 10,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
