"""Enriched rows into a PostgreSQL staging table at COPY speed, from the executors, one connection per partition.

`copy_to_staging(df, params, staging, ledger)` runs one Spark job: every partition of `df` (the enrich output,
OUTPUT_SCHEMA) reaches its Python worker as Arrow batches (`mapInArrow`), opens its own psycopg 3 connection and
streams its rows with ONE `COPY staging … FROM STDIN (FORMAT BINARY)` in its own transaction. Nothing goes
through the driver. The 384-float embeddings travel natively: a whole Arrow batch of `array<float>` becomes
PostgreSQL's binary `float4[]` representation in a few numpy operations (big-endian float4 bits, no text
formatting on the client, no float parsing on the server); the other columns go through psycopg's binary dumpers
chosen by `Copy.set_types`.

Retried and speculative partitions: a partition's COPY commits together with its row in the `ledger` table
(`part` primary key, inserted first with `ON CONFLICT DO NOTHING`). An attempt that finds its partition already
in the ledger copies nothing (an earlier attempt committed every row of it: a COPY is all or nothing); one that
runs while another attempt of the same partition is still open waits on that key and then copies (the other
rolled back) or skips (it committed). So staging never holds a partition twice, and its `id` primary key would
fail the run loudly rather than stage an article twice should Spark ever recompute a partition with other rows.

Connection settings: the libpq parameters (password included) are captured in the partition function's closure,
i.e. in the serialized task that Spark sends to its executors — where Spark's own JDBC source and writer put the
password too (a JDBC option of the relation) — never in job arguments, environment variables, logs or plans.
Executors fetching the secret themselves would need Secrets Manager calls per task (and no equivalent exists for
a `--db-url-env` run, whose variable lives on the driver only) for no gain in exposure.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np

STAGING_COLUMNS = ("id", "topic", "topic_score", "sentiment", "sentiment_score", "embedding", "ml_model_version",
                   "ml_error")
STAGING_TYPES = ("int8", "text", "float4", "text", "float4", "float4[]", "text", "text")
COPY_RESULT_SCHEMA = "part int, attempt int, rows long, failed long, copied boolean"
FLOAT4_OID = 700  # pg_type.oid of float4 (built in, fixed)
FLOAT4_ARRAY_OID = 1021  # pg_type.oid of float4[] (built in, fixed)


def ledger_ddl(ledger: str) -> str:
    return f"CREATE UNLOGGED TABLE {ledger} (part integer PRIMARY KEY, rows bigint, failed bigint)"


def float4_arrays_binary(column) -> list:
    """A pyarrow list<float> array → per row PostgreSQL's binary `float4[]` value (a memoryview) or None.

    Binary array layout (array_send): int32 ndim, int32 has-nulls flag, int32 element type oid, per dimension
    int32 length + int32 lower bound (1), then per element int32 byte length (4) + the big-endian float4.
    Rows of one length are encoded together: one (rows × (5 + 2·length)) big-endian int32 matrix per length.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if not pa.types.is_float32(column.type.value_type):
        raise TypeError(f"embeddings must be list<float> (float4), got {column.type}")
    n = len(column)
    out: list = [None] * n
    if n == 0 or column.null_count == n:
        return out
    valid = column.is_valid().to_numpy(zero_copy_only=False)
    lengths = pc.list_value_length(column).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    offsets = column.offsets.to_numpy(zero_copy_only=False).astype(np.int64)  # n + 1, of this slice
    # `values` is the child array of the whole (unsliced) list array: take only this slice's part of it.
    values = column.values.slice(offsets[0], offsets[n] - offsets[0])
    offsets = offsets[:n] - offsets[0]
    if values.null_count and pc.sum(pc.is_null(pc.list_flatten(column))).as_py():
        raise ValueError("an embedding holds a NULL element: refusing to write it")
    flat = values.to_numpy(zero_copy_only=False).view(np.int32)  # the float4 bits
    rows = np.flatnonzero(valid)
    for length in np.unique(lengths[rows]):
        selected = rows[lengths[rows] == length]
        length = int(length)
        if length == 0:  # an empty array is zero-dimensional in PostgreSQL
            empty = memoryview(np.array([0, 0, FLOAT4_OID], dtype=">i4").tobytes())
            for i in selected:
                out[i] = empty
            continue
        block = np.empty((len(selected), 5 + 2 * length), dtype=">i4")
        block[:, :5] = (1, 0, FLOAT4_OID, length, 1)
        block[:, 5::2] = 4
        block[:, 6::2] = flat[offsets[selected, None] + np.arange(length)]  # (byte-swapped by the assignment)
        size = block.shape[1] * 4
        view = memoryview(block.view(np.uint8).reshape(-1))
        for j, i in enumerate(selected):
            out[i] = view[j * size:(j + 1) * size]
    return out


def staging_rows(batch) -> Iterator[tuple]:
    """One Arrow batch of enrich output → tuples in STAGING_COLUMNS order (embeddings pre-encoded)."""
    columns = []
    for name in STAGING_COLUMNS:
        column = batch.column(batch.schema.get_field_index(name))
        columns.append(float4_arrays_binary(column) if name == "embedding" else column.to_pylist())
    return zip(*columns)


def _register_preencoded_float4_array(conn) -> None:
    """On this connection, COPY columns typed float4[] take values already in binary array form (bytes)."""
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    class PreencodedFloat4ArrayDumper(Dumper):
        format = Format.BINARY
        oid = FLOAT4_ARRAY_OID

        def dump(self, obj):
            return obj

    conn.adapters.register_dumper(None, PreencodedFloat4ArrayDumper)


def copy_partition(params: dict, staging: str, ledger: str, part: int, batches, attempt: int = 0) -> dict:
    """Copies one partition's batches into `staging` unless an earlier attempt of `part` committed them."""
    import psycopg

    rows = failed = 0
    copied = False
    with psycopg.connect(**params) as conn:  # one transaction, committed when the block ends without error
        _register_preencoded_float4_array(conn)
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO {ledger} (part) VALUES (%s) ON CONFLICT (part) DO NOTHING", (part,))
            if cur.rowcount == 1:
                error_index = STAGING_COLUMNS.index("ml_error")
                with cur.copy(f"COPY {staging} ({', '.join(STAGING_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(list(STAGING_TYPES))
                    for batch in batches:
                        for row in staging_rows(batch):
                            copy.write_row(row)
                            rows += 1
                            failed += row[error_index] is not None
                cur.execute(f"UPDATE {ledger} SET rows = %s, failed = %s WHERE part = %s", (rows, failed, part))
                copied = True
    if not copied:
        for _ in batches:  # an earlier attempt staged this partition: drain the input, copy nothing
            pass
    return {"part": part, "attempt": attempt, "rows": rows, "failed": failed, "copied": copied}


def copy_to_staging(df, params: dict, staging: str, ledger: str) -> list[dict]:
    """Runs the COPY of every partition of `df` (one Spark job); returns one record per partition (`copied`
    false when the successful attempt found an earlier one's rows committed)."""
    def run(batches):
        import pyarrow as pa
        from pyspark import TaskContext

        context = TaskContext.get()
        result = copy_partition(params, staging, ledger, context.partitionId(), batches, context.attemptNumber())
        yield pa.RecordBatch.from_pylist([result], schema=pa.schema([
            ("part", pa.int32()), ("attempt", pa.int32()), ("rows", pa.int64()), ("failed", pa.int64()),
            ("copied", pa.bool_())]))

    return [row.asDict() for row in df.mapInArrow(run, COPY_RESULT_SCHEMA).collect()]
