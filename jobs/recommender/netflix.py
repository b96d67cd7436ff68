"""Lossless parsing of Netflix Prize text files with Spark DataFrames (no shuffle, no driver collection).

Format: a header line ``<movieId>:`` followed by rating rows ``<customerId>,<rating>,<YYYY-MM-DD>``; a row belongs
to the last header before it *in the file*. Spark splits a large file into several input splits, so the header of
a row may live in another split (the seed project lost those rows). Approach:

* The files are read with ``:`` as the record separator (Hadoop's record reader assigns every record to exactly one
  split, whatever the split size). A colon only occurs in header lines (and in malformed lines), so a record
  ("chunk") is essentially the rows of one movie followed by the next header's id. Chunks carry their position
  ``(source file, split start, monotonically_increasing_id)``, increasing in file order.
* Splitting a chunk at newlines gives pieces ``p_0 … p_m``. The middle pieces ``p_1 … p_(m-1)`` are complete lines
  without a colon — nearly all rows — and stay where they were read: no shuffle of the data.
* The boundary pieces (``p_0``, ``p_m``, or a whole chunk without newline) are few (about two per movie). Joined in
  file order with ``:`` they give the lines that contained colons — the headers. Small windows over these few rows
  give, per chunk, the current header (the movie of its middle rows) and the number of newlines before it (line
  numbers); that small table is broadcast back to the pieces.

Blank lines are ignored (but counted in line numbers). Every other line is either valid (a header or a rating) or
rejected with a reason, so valid + rejected = non-blank lines. Known limit: a file whose very last line ends with
``:`` and has no final newline (a header with no ratings at EOF) reports that line without its colon, as rejected.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.common import uris

RATINGS_SCHEMA = "movie_id int, customer_id int, rating int, date date, year int, month int"
RATING_COLUMNS = ["movie_id", "customer_id", "rating", "date", "year", "month"]
REJECT_COLUMNS = ["source_file", "line_number", "raw_line", "reason"]

# Reasons a line is rejected.
BAD_HEADER = "bad_header"              # ends with ':' but is not a positive integer id
NO_HEADER = "no_header"                # rating row before any header of its file
UNDER_BAD_HEADER = "under_bad_header"  # rating row whose header was malformed
FIELD_COUNT = "field_count"            # not exactly 3 comma-separated fields
BAD_CUSTOMER_ID = "bad_customer_id"
BAD_RATING = "bad_rating"              # not an integer
RATING_OUT_OF_RANGE = "rating_out_of_range"
BAD_DATE = "bad_date"                  # not a valid yyyy-MM-dd calendar date

_MALFORMED_HEADER = -1
_INT = r"^[0-9]{1,10}$"


def read_chunks(spark: SparkSession, inputs: list[str]) -> DataFrame:
    """Colon-separated records with their position: ``chunk, source_file, split_start, pos`` (gzip accepted)."""
    df = spark.read.option("lineSep", ":").text([uris.to_physical(u) for u in inputs])
    return df.select(
        F.col("value").alias("chunk"),
        F.col("_metadata.file_path").alias("source_file"),
        F.col("_metadata.file_block_start").alias("split_start"),
        F.monotonically_increasing_id().alias("pos"),
    )


read_lines = read_chunks  # the input of :func:`parse`


def _positive_int(text: Column) -> Column:
    value = F.when(text.rlike(_INT), text.try_cast("int"))
    return F.when(value > 0, value)


def _header_of(text: Column) -> Column:
    """Movie id of a header line (-1 for a malformed header: ends with ':' but is no positive id); else null."""
    trimmed = F.regexp_replace(text, r"^\s+|\s+$", "")
    return F.when(trimmed.endswith(":"),
                  F.coalesce(_positive_int(F.regexp_replace(trimmed, ":$", "")), F.lit(_MALFORMED_HEADER)))


_FILE_ORDER = ["split_start", "pos"]


def chunk_table(chunks: DataFrame) -> DataFrame:
    """One small row per chunk: newline count ``m``, first/last piece, first/last chunk of its file, line offset."""
    newline_count = F.length("chunk") - F.length(F.replace(F.col("chunk"), F.lit("\n"), F.lit("")))
    per_chunk = chunks.select(
        "source_file", "split_start", "pos", newline_count.alias("m"),
        F.substring_index("chunk", "\n", 1).alias("first_piece"),
        F.substring_index("chunk", "\n", -1).alias("last_piece"))
    in_file = Window.partitionBy("source_file").orderBy(*_FILE_ORDER)
    before = in_file.rowsBetween(Window.unboundedPreceding, -1)
    after = in_file.rowsBetween(1, Window.unboundedFollowing)
    return per_chunk.select(
        "*",
        F.coalesce(F.sum("m").over(before), F.lit(0)).alias("line_offset"),
        (F.row_number().over(in_file) == 1).alias("file_first"),
        F.coalesce(F.count(F.lit(1)).over(after), F.lit(0)).alias("_later"),
    ).withColumn("file_last", F.col("_later") == 0).drop("_later")


def stitched_lines(table: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Lines built from boundary pieces (all lines containing a colon, plus the first/last line of each file).

    Returns ``(lines, chunk_movies)``: the stitched lines with ``value, line_number, movie`` and, per chunk, the
    movie of its middle rows (the current header after the line that ends at its first piece).
    """
    first = table.select("source_file", "split_start", "pos", F.lit(0).alias("idx"),
                         F.col("first_piece").alias("piece"), "m", "line_offset", "file_first", "file_last")
    last = table.where(F.col("m") >= 1).select("source_file", "split_start", "pos", F.col("m").alias("idx"),
                                                F.col("last_piece").alias("piece"), "m", "line_offset",
                                                "file_first", "file_last")
    pieces = first.unionByName(last)
    order = Window.partitionBy("source_file").orderBy("split_start", "pos", "idx")
    starts = ((F.col("idx") == F.col("m")) & (F.col("m") >= 1)) | (F.col("file_first") & (F.col("idx") == 0))
    grouped = pieces.withColumn("group", F.sum(F.when(starts, 1).otherwise(0))
                                .over(order.rowsBetween(Window.unboundedPreceding, Window.currentRow)))
    lines = grouped.groupBy("source_file", "group").agg(
        F.array_sort(F.collect_list(F.struct("split_start", "pos", "idx", "piece", "line_offset"))).alias("parts"))
    lines = lines.select(
        "source_file", "group",
        F.array_join(F.transform("parts", lambda p: p["piece"]), ":").alias("value"),
        (F.lit(1) + F.get("parts", 0)["line_offset"] + F.get("parts", 0)["idx"]).cast("long").alias("line_number"),
    ).withColumn("header", _header_of(F.col("value")))
    running = Window.partitionBy("source_file").orderBy("group") \
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    lines = lines.withColumn("movie", F.last("header", ignorenulls=True).over(running))
    chunk_movies = (grouped.where(F.col("idx") == 0)
                    .join(lines.select("source_file", "group", F.col("movie").alias("chunk_movie")),
                          ["source_file", "group"])
                    .select("source_file", "split_start", "pos", "chunk_movie", "line_offset"))
    return lines.select("source_file", "line_number", "value", "movie", "header"), chunk_movies


def middle_lines(chunks: DataFrame, chunk_movies: DataFrame) -> DataFrame:
    """Complete colon-free lines inside chunks, with their movie and line number (the data is not shuffled)."""
    parts = chunks.select("source_file", "split_start", "pos", F.split("chunk", "\n", -1).alias("parts"))
    exploded = parts.select("source_file", "split_start", "pos", (F.size("parts") - 1).alias("m"),
                            F.posexplode("parts").alias("idx", "value"))
    inner = exploded.where((F.col("idx") > 0) & (F.col("idx") < F.col("m")))
    joined = inner.join(F.broadcast(chunk_movies), ["source_file", "split_start", "pos"], "left")
    return joined.select("source_file",
                         (F.lit(1) + F.col("line_offset") + F.col("idx")).cast("long").alias("line_number"),
                         "value", F.col("chunk_movie").alias("movie"), F.lit(None).cast("int").alias("header"))


def lines_with_movies(chunks: DataFrame) -> DataFrame:
    """Every line of the input with ``source_file, line_number, value, movie, header, text, blank``."""
    stitched, chunk_movies = stitched_lines(chunk_table(chunks))
    lines = middle_lines(chunks, chunk_movies).unionByName(stitched)
    text = F.expr("trim(BOTH ' \\t\\r\\f' FROM value)")
    return lines.withColumn("text", text).withColumn("blank", F.col("text") == "")


def classify(assigned: DataFrame) -> DataFrame:
    """Parses rating rows and sets ``kind`` (header / rating / rejected) and ``reason`` for every non-blank line.

    Field parsing uses Spark's cheap casts (``try_cast``) rather than regular expressions; each stage is its own
    projection so the parsed values are computed once per row.
    """
    fields = (assigned.where(~F.col("blank"))
              .select("source_file", "line_number", "value", "movie", "header",
                      F.split(F.col("text"), ",", -1).alias("fields")))
    parsed = fields.select(
        "source_file", "line_number", "value", "movie", "header", F.size("fields").alias("n_fields"),
        F.trim(F.get("fields", 0)).try_cast("int").alias("cust"),
        F.trim(F.get("fields", 1)).try_cast("int").alias("rating_int"),
        F.trim(F.get("fields", 2)).alias("date_text"))
    parsed = parsed.withColumn("date_value", F.when(F.length("date_text") == 10,
                                                    F.col("date_text").try_cast("date"))).drop("date_text")
    is_header = F.col("header").isNotNull()
    reason = (F.when(is_header & (F.col("header") == _MALFORMED_HEADER), F.lit(BAD_HEADER))
              .when(is_header, F.lit(None))
              .when(F.col("n_fields") != 3, F.lit(FIELD_COUNT))
              .when(F.col("movie").isNull(), F.lit(NO_HEADER))
              .when(F.col("movie") == _MALFORMED_HEADER, F.lit(UNDER_BAD_HEADER))
              .when(F.coalesce(F.col("cust") <= 0, F.lit(True)), F.lit(BAD_CUSTOMER_ID))
              .when(F.col("rating_int").isNull(), F.lit(BAD_RATING))
              .when(~F.col("rating_int").between(1, 5), F.lit(RATING_OUT_OF_RANGE))
              .when(F.col("date_value").isNull(), F.lit(BAD_DATE)))
    with_reason = parsed.withColumn("reason", reason)
    ok = F.col("reason").isNull() & ~is_header
    return with_reason.select(
        "source_file", "line_number", "value", "movie",
        F.when(F.col("reason").isNotNull(), F.lit("rejected")).when(is_header, F.lit("header"))
        .otherwise(F.lit("rating")).alias("kind"),
        "reason",
        F.when(ok, F.col("cust")).alias("customer_id"),
        F.when(ok, F.col("rating_int")).alias("rating"),
        F.when(ok, F.col("date_value")).alias("date"),
    )


def parse(chunks: DataFrame) -> DataFrame:
    """Chunks (see :func:`read_chunks`) → classified lines (see :func:`classify`)."""
    return classify(lines_with_movies(chunks))


def source_uri(column: Column) -> Column:
    """``input_file_name()`` in the form results name files (``file:/x`` → ``file:///x``; ``s3://`` unchanged)."""
    return F.regexp_replace(column, "^file:/+", "file:///")


def valid_ratings(classified: DataFrame) -> DataFrame:
    """Valid rating rows in the dataset schema plus ``source_file``/``line_number`` (used for the tie rule)."""
    return (classified.where(F.col("kind") == "rating")
            .select(F.col("movie").alias("movie_id"), "customer_id", "rating", "date",
                    F.year("date").alias("year"), F.month("date").alias("month"),
                    "source_file", "line_number"))


def rejects(classified: DataFrame) -> DataFrame:
    return (classified.where(F.col("kind") == "rejected")
            .select(source_uri(F.col("source_file")).alias("source_file"), "line_number",
                    F.col("value").alias("raw_line"), "reason"))


def upsert(existing: DataFrame | None, incoming: DataFrame) -> DataFrame:
    """Upsert on key (movie_id, customer_id): one row per key, the one with the latest ``date``.

    Tie rule (same key, same date): a row of the incoming batch beats the existing dataset; inside the batch the
    row appearing last wins (greatest source file URI, then greatest line number). Applying the same batch twice
    therefore yields the same dataset (idempotent).
    """
    new = incoming.select(*RATING_COLUMNS, F.lit(1).alias("_batch"),
                          F.col("source_file").alias("_file"), F.col("line_number").alias("_line"))
    if existing is not None:
        old = existing.select(*[F.col(c).cast(t) for c, t in _schema_pairs()], F.lit(0).alias("_batch"),
                              F.lit(None).cast("string").alias("_file"), F.lit(None).cast("long").alias("_line"))
        new = old.unionByName(new)
    rank = Window.partitionBy("movie_id", "customer_id").orderBy(
        F.col("date").desc(), F.col("_batch").desc(), F.col("_file").desc_nulls_last(),
        F.col("_line").desc_nulls_last())
    return (new.withColumn("_rank", F.row_number().over(rank))
            .where(F.col("_rank") == 1)
            .select(*RATING_COLUMNS))


def _schema_pairs() -> list[tuple[str, str]]:
    return [tuple(part.strip().split(" ")) for part in RATINGS_SCHEMA.split(",")]
