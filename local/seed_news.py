"""Loads bundled sample articles (JSON lines) into the local lake as a Delta table (the bronze news source).

    python local/seed_news.py --input data/sample/news/articles.jsonl --root .local/s3/<lake>/bronze/news/articles \
        --uri s3://<lake>/bronze/news/articles

This is the demo's "upload to the bronze tier": the layout every lake dataset has (docs/CONTRACTS.md, "Lake
tables"), a path-based Delta table written with delta-rs (the ``deltalake`` package, no Spark): Parquet data files
at the root and one commit ``_delta_log/<version>.json`` per call. Each call overwrites the table's content as a
new version (version 0 on an empty root); its ``add`` actions carry ``numRecords``, the count the check-articles
Lambda reads. Uploading the directory to S3: the data files first, the commit files last (local/sample-data.ts).
Columns: the article fields ml_processing reads. Prints ``{"uri": "<uri>@v<N>", "version": N, "rows": n}``.
"""
from __future__ import annotations

import argparse
import json
import os
from datetime import datetime

import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake

SCHEMA = pa.schema([
    ("id", pa.int64()), ("title", pa.string()), ("content", pa.string()), ("source", pa.string()),
    ("url", pa.string()), ("published_at", pa.timestamp("us", tz="UTC")),
])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--input", required=True, help="JSON lines with id, title, content, source, url, published_at")
    parser.add_argument("--root", required=True, help="local directory of the table root")
    parser.add_argument("--uri", required=True, help="the table root's s3:// URI (what the output names)")
    args = parser.parse_args()
    rows = [json.loads(line) for line in open(args.input, encoding="utf-8") if line.strip()]
    columns = {name: [r.get(name) for r in rows] for name in SCHEMA.names}
    columns["published_at"] = [datetime.fromisoformat(v) if v else None for v in columns["published_at"]]
    table = pa.table(columns, schema=SCHEMA)
    os.makedirs(args.root, exist_ok=True)
    metadata = {"kind": "news-articles", "rows": table.num_rows, "writer": "local/seed_news.py"}
    write_deltalake(args.root, table, mode="overwrite",
                    commit_properties=CommitProperties(custom_metadata={"userMetadata": json.dumps(metadata, sort_keys=True)}))
    version = DeltaTable(args.root).version()
    print(json.dumps({"uri": f"{args.uri.rstrip('/')}@v{version}", "version": version, "rows": table.num_rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
