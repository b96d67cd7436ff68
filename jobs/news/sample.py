"""Synthetic, labelled news articles for tests, benchmarks, the demo and topic-model training.

Each article is built from topic-specific sentences (so its topic is knowable) and an optional positive or
negative framing sentence (so its sentiment is knowable). Deterministic for a given seed.

    python -m jobs.news.sample --count 400 --output data/sample/news/articles.jsonl
    python -m jobs.news.sample --input data/sample/news/articles.jsonl --dataset /tmp/news/articles

`--dataset` writes a new version of a Delta table (the lake-mode source of ml_processing; delta-rs, no Spark) in a
local directory; its commit's `add` actions carry the row counts. To put it in a lake, upload the data files first
and `_delta_log/` last (a reader sees a version only through its commit file).
"""
from __future__ import annotations

import argparse
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

TOPIC_SENTENCES = {
    "World": [
        "Foreign ministers met in {city} to negotiate a ceasefire between the two neighbouring countries.",
        "Thousands of refugees crossed the border as the conflict in the region escalated.",
        "The United Nations called for humanitarian corridors after fighting resumed overnight.",
        "Diplomats from several nations signed a treaty on maritime borders in {city}.",
        "The embassy in {city} was evacuated as international tensions rose.",
    ],
    "Politics": [
        "The prime minister announced a snap election after losing a vote in parliament.",
        "Opposition parties formed a coalition to challenge the governing party in next month's election.",
        "The senate passed the budget bill after a long debate among lawmakers.",
        "Voters in {city} head to the polls to choose a new mayor on Sunday.",
        "The president vetoed the bill, saying the legislation would weaken the constitution.",
    ],
    "Business": [
        "Shares of the retailer jumped after quarterly earnings beat analyst expectations.",
        "The central bank kept interest rates unchanged as inflation slowed.",
        "The two companies agreed to a merger valued at {amount} billion dollars.",
        "Oil prices fell as investors worried about weaker demand in global markets.",
        "The startup raised {amount} million dollars from venture capital investors.",
    ],
    "Technology": [
        "The company unveiled a new smartphone with a faster chip and an improved camera.",
        "A software update fixes a security vulnerability that let hackers access user accounts.",
        "The firm released an artificial intelligence model that writes computer code.",
        "Engineers in {city} are building a data center to power cloud computing services.",
        "The social network changed its app to give users more control over their privacy.",
    ],
    "Science": [
        "Astronomers detected water vapour in the atmosphere of a distant exoplanet.",
        "Physicists at the laboratory observed a new subatomic particle in collider experiments.",
        "Researchers sequenced the genome of an ancient species of fish found in fossils.",
        "The space agency launched a probe to study the moons of Jupiter.",
        "A study of ice cores reveals how the climate changed over the past million years.",
    ],
    "Health": [
        "Doctors reported a rise in flu cases and urged patients to get vaccinated.",
        "A clinical trial found that the new drug lowers blood pressure in older patients.",
        "Hospitals in {city} are short of nurses as the winter virus season begins.",
        "Health officials recommend more exercise and less sugar to prevent diabetes.",
        "Researchers say the vaccine protects against severe illness for at least a year.",
    ],
    "Sports": [
        "The home team won the championship final with a goal in extra time.",
        "The tennis star reached the semifinals of the tournament in {city}.",
        "The striker scored twice as the club moved to the top of the league table.",
        "The basketball team signed a new coach ahead of the playoffs.",
        "The marathon in {city} drew thousands of runners and a new course record.",
    ],
    "Entertainment": [
        "The director's new film premiered at the festival in {city} to a standing ovation.",
        "The singer announced a world tour to promote her latest album.",
        "The streaming service renewed the comedy series for another season.",
        "The actor won an award for his role in the historical drama.",
        "Fans lined up for hours to buy tickets for the band's concert in {city}.",
    ],
}
POSITIVE = [
    "Observers called it a great success and praised the excellent outcome.",
    "Supporters were delighted and celebrated the wonderful news.",
    "Experts described the result as a brilliant achievement and a happy moment.",
]
NEGATIVE = [
    "Critics called it a terrible failure and condemned the awful outcome.",
    "Many people were angry and said the news was a disaster.",
    "Observers described the result as a shocking loss and a sad, painful day.",
]
CITIES = ["London", "Paris", "Nairobi", "Tokyo", "Lima", "Toronto", "Madrid", "Seoul", "Cairo", "Sydney"]
SOURCES = ["Daily Planet", "Morning Post", "Global Wire", "City Herald"]


def generate(count: int, seed: int = 7, start_id: int = 1) -> list[dict]:
    rng = random.Random(seed)
    topics = list(TOPIC_SENTENCES)
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    articles = []
    for n in range(count):
        topic = topics[n % len(topics)]
        tone = rng.choice(["positive", "negative", "neutral"])
        sentences = rng.sample(TOPIC_SENTENCES[topic], 3)
        fill = {"city": rng.choice(CITIES), "amount": rng.randint(2, 90)}
        body = [s.format(**fill) for s in sentences[1:]]
        if tone == "positive":
            body.append(rng.choice(POSITIVE))
        elif tone == "negative":
            body.append(rng.choice(NEGATIVE))
        article_id = start_id + n
        articles.append({
            "id": article_id,
            "title": sentences[0].format(**fill).rstrip("."),
            "content": " ".join(body),
            "source": rng.choice(SOURCES),
            "url": f"https://news.example/{topic.lower()}/{article_id}",
            "published_at": (base + timedelta(minutes=17 * n)).isoformat(),
            "label": topic,
            "tone": tone,
        })
    return articles


def write_dataset(articles: list[dict], root: str) -> str:
    """Writes `articles` (without labels) as a new version of the Delta table at `root` (created when absent; the
    whole content replaced otherwise) with delta-rs, no Spark; returns `<root>@v<N>`, the version it committed.
    `root`: a local directory (or a URI delta-rs opens with credentials from the environment)."""
    import os

    import pyarrow as pa
    from deltalake import CommitProperties, DeltaTable, write_deltalake

    from jobs.common import uris

    schema = pa.schema([("id", pa.int64()), ("title", pa.string()), ("content", pa.string()), ("source", pa.string()),
                        ("url", pa.string()), ("published_at", pa.timestamp("us", tz="UTC"))])
    table = pa.Table.from_pylist([{k: a[k] for k in ("id", "title", "content", "source", "url")}
                                  | {"published_at": datetime.fromisoformat(a["published_at"])} for a in articles],
                                 schema=schema)
    target = uris.local_path(root) if uris.is_local(root) else root
    if uris.is_local(root):
        os.makedirs(target, exist_ok=True)
    metadata = {"kind": "news-articles", "rows": table.num_rows, "writer": "jobs.news.sample"}
    write_deltalake(target, table, mode="overwrite",
                    commit_properties=CommitProperties(custom_metadata={"userMetadata": json.dumps(metadata, sort_keys=True)}))
    return f"{root.rstrip('/')}@v{DeltaTable(target).version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Writes synthetic labelled news articles as JSON lines or a dataset.")
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start-id", type=int, default=1)
    parser.add_argument("--input", type=Path, help="JSON lines to publish instead of generating (with --dataset)")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--output", type=Path, help="JSON lines file to write")
    target.add_argument("--dataset", help="Delta table root (local directory) to commit a new version to")
    args = parser.parse_args(argv)
    if args.dataset:
        articles = ([json.loads(line) for line in args.input.read_text().splitlines() if line.strip()]
                    if args.input else generate(args.count, args.seed, args.start_id))
        print(f"wrote {len(articles)} articles to {write_dataset(articles, args.dataset)}")
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_suffix(args.output.suffix + ".tmp")
    with open(tmp, "w") as handle:
        for article in generate(args.count, args.seed, args.start_id):
            handle.write(json.dumps(article) + "\n")
    tmp.replace(args.output)
    print(f"wrote {args.count} articles to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
