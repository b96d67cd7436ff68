"""Shared setup of the news benchmarks: a real PostgreSQL with the articles table and synthetic articles."""
from __future__ import annotations

import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from jobs.news.sample import generate  # noqa: E402
from jobs.tests.pg import PostgresServer  # noqa: E402


def start_database() -> PostgresServer:
    # PostgreSQL's durable defaults (fsync, synchronous commit), as a production database runs.
    server = PostgresServer(database="bench", user="bench_app", durable=True).start()
    server.migrate()
    return server


def load_articles(server: PostgresServer, count: int, seed: int = 1) -> list[dict]:
    articles = generate(count, seed=seed)
    with server.connect() as conn:
        with conn.cursor() as cur:
            with cur.copy("COPY articles (id, title, content, source, url, published_at) FROM STDIN") as copy:
                for a in articles:
                    copy.write_row((a["id"], a["title"], a["content"], a["source"], a["url"], a["published_at"]))
    return articles


def spark_session():
    os.environ.setdefault("SPARK_SHUFFLE_PARTITIONS", "2")
    from jobs.common.spark import get_spark

    return get_spark("bench-news")


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
