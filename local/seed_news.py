"""Loads bundled sample articles (JSON lines) into the local lake as a versioned Parquet dataset.

    python local/seed_news.py --input data/sample/news/articles.jsonl --root .local/s3/<lake>/bronze/news/articles \
        --uri s3://<lake>/bronze/news/articles

This is the demo's "upload to the bronze tier": the layout is the one every job writes (docs/CONTRACTS.md,
"Versioned datasets"): ``_versions/<id>/part-00000.parquet`` and the ``_CURRENT`` pointer (with ``rows``, which
the check-articles Lambda reads), replaced atomically. Columns: the article fields ml_processing reads.
"""
from __future__ import annotations

import argparse
import json
import os
import uuid
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema([
    ("id", pa.int64()), ("title", pa.string()), ("content", pa.string()), ("source", pa.string()),
    ("url", pa.string()), ("published_at", pa.timestamp("us", tz="UTC")),
])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", required=True, help="JSON lines with id, title, content, source, url, published_at")
    parser.add_argument("--root", required=True, help="local directory of the dataset root")
    parser.add_argument("--uri", required=True, help="the dataset root's s3:// URI (written into the pointer)")
    args = parser.parse_args()
    rows = [json.loads(line) for line in open(args.input, encoding="utf-8") if line.strip()]
    columns = {name: [r.get(name) for r in rows] for name in SCHEMA.names}
    columns["published_at"] = [datetime.fromisoformat(v) if v else None for v in columns["published_at"]]
    table = pa.table(columns, schema=SCHEMA)
    now = datetime.now(timezone.utc)
    version = now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:6]
    version_dir = os.path.join(args.root, "_versions", version)
    os.makedirs(version_dir, exist_ok=True)
    pq.write_table(table, os.path.join(version_dir, "part-00000.parquet"))
    pointer = {"version": version, "path": f"{args.uri.rstrip('/')}/_versions/{version}",
               "committedAt": now.isoformat(), "rows": table.num_rows}
    tmp = os.path.join(args.root, f".tmp-_CURRENT-{uuid.uuid4().hex[:8]}")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(pointer, handle, sort_keys=True)
    os.replace(tmp, os.path.join(args.root, "_CURRENT"))
    print(json.dumps(pointer))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
