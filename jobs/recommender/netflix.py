"""Lossless parsing of Netflix Prize text files with Spark DataFrames (no driver collection, any number of splits).

Format: a header line ``<movieId>:`` followed by rating rows ``<customerId>,<rating>,<YYYY-MM-DD>``; a row belongs
to the last header before it *in the file*. Spark splits a large file into several input splits, and a split may
start in the middle of a movie's rows, so the header of a row can live in another split (the seed project lost
those rows). Here every line is tagged with its position: ``(source file, split start offset, id)`` where the id is
``monotonically_increasing_id()`` taken straight after the scan — increasing in read order inside a split. Then:

1. inside each split, the running header is ``last(header, ignorenulls)`` over a window ordered by that id;
2. one small row per split (its line count and its last header) gives, by a window over the splits of a file
   ordered by start offset, the header carried into each split and the line number of its first line;
3. rows whose split has no header before them take the carried-in header; line number = offset + row in split.

Blank lines are ignored (but counted in line numbers). Every other line is either valid (a header or a rating) or
rejected with a reason, so valid + rejected = non-blank lines.
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


def read_lines(spark: SparkSession, inputs: list[str]) -> DataFrame:
    """Text lines with their position: ``value, source_file, split_start, pos`` (gzip is decompressed by Hadoop)."""
    df = spark.read.text([uris.to_physical(u) for u in inputs])
    return df.select(
        "value",
        F.col("_metadata.file_path").alias("source_file"),
        F.col("_metadata.file_block_start").alias("split_start"),
        F.monotonically_increasing_id().alias("pos"),
    )


def _positive_int(text: Column) -> Column:
    value = F.when(text.rlike(_INT), text.try_cast("int"))
    return F.when(value > 0, value)


def tag_headers(lines: DataFrame) -> DataFrame:
    """Adds ``text`` (trimmed line), ``blank`` and ``header`` (movie id; -1 for a malformed header; null on rows)."""
    text = F.regexp_replace(F.col("value"), r"^\s+|\s+$", "")
    return (lines
            .withColumn("text", text)
            .withColumn("blank", F.col("text") == "")
            .withColumn("header", F.when(
                F.col("text").endswith(":"),
                F.coalesce(_positive_int(F.regexp_replace(F.col("text"), ":$", "")), F.lit(_MALFORMED_HEADER)))))


def split_carry(tagged: DataFrame) -> DataFrame:
    """One row per split: ``carry_in`` (last header of earlier splits of the file) and ``line_offset``."""
    per_split = tagged.groupBy("source_file", "split_start").agg(
        F.count(F.lit(1)).alias("n_lines"),
        F.max_by("header", F.when(F.col("header").isNotNull(), F.col("pos"))).alias("last_header"),
    )
    earlier = (Window.partitionBy("source_file").orderBy("split_start")
               .rowsBetween(Window.unboundedPreceding, -1))
    return per_split.select(
        "source_file", "split_start",
        F.last("last_header", ignorenulls=True).over(earlier).alias("carry_in"),
        F.coalesce(F.sum("n_lines").over(earlier), F.lit(0)).alias("line_offset"),
    )


def assign_headers(tagged: DataFrame, carry: DataFrame) -> DataFrame:
    """Adds ``movie`` (the header each line falls under, or null) and 1-based ``line_number`` in its file."""
    in_split = (Window.partitionBy("source_file", "split_start").orderBy("pos")
                .rowsBetween(Window.unboundedPreceding, Window.currentRow))
    with_split_header = tagged.select(
        "*",
        F.last("header", ignorenulls=True).over(in_split).alias("split_header"),
        F.row_number().over(Window.partitionBy("source_file", "split_start").orderBy("pos")).alias("row_in_split"),
    )
    joined = with_split_header.join(F.broadcast(carry), ["source_file", "split_start"], "left")
    return (joined
            .withColumn("movie", F.coalesce("split_header", "carry_in"))
            .withColumn("line_number", (F.col("line_offset") + F.col("row_in_split")).cast("long"))
            .drop("split_header", "carry_in", "line_offset", "row_in_split"))


def classify(assigned: DataFrame) -> DataFrame:
    """Parses rating rows and sets ``kind`` (header / rating / rejected) and ``reason`` for every non-blank line."""
    fields = F.split(F.col("text"), ",", -1)
    cust_text = F.trim(F.get(fields, 0))
    rating_text = F.trim(F.get(fields, 1))
    date_text = F.trim(F.get(fields, 2))
    customer = _positive_int(cust_text)
    rating_int = F.when(rating_text.rlike(_INT), rating_text.try_cast("int"))
    date = F.when(date_text.rlike(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"),
                  F.try_to_timestamp(date_text, F.lit("yyyy-MM-dd")).cast("date"))
    is_header = F.col("header").isNotNull()
    reason = (F.when(is_header & (F.col("header") == _MALFORMED_HEADER), F.lit(BAD_HEADER))
              .when(is_header, F.lit(None))
              .when(F.size(fields) != 3, F.lit(FIELD_COUNT))
              .when(F.col("movie").isNull(), F.lit(NO_HEADER))
              .when(F.col("movie") == _MALFORMED_HEADER, F.lit(UNDER_BAD_HEADER))
              .when(customer.isNull(), F.lit(BAD_CUSTOMER_ID))
              .when(rating_int.isNull(), F.lit(BAD_RATING))
              .when(~rating_int.between(1, 5), F.lit(RATING_OUT_OF_RANGE))
              .when(date.isNull(), F.lit(BAD_DATE)))
    return (assigned.where(~F.col("blank"))
            .select(
                "source_file", "line_number", "value", "movie",
                F.when(reason.isNotNull(), F.lit("rejected")).when(is_header, F.lit("header"))
                .otherwise(F.lit("rating")).alias("kind"),
                reason.alias("reason"),
                F.when(reason.isNull() & ~is_header, customer).alias("customer_id"),
                F.when(reason.isNull() & ~is_header, rating_int).alias("rating"),
                F.when(reason.isNull() & ~is_header, date).alias("date"),
            ))


def parse(lines: DataFrame) -> DataFrame:
    """Lines with positions (see :func:`read_lines`) → classified lines (see :func:`classify`)."""
    tagged = tag_headers(lines)
    return classify(assign_headers(tagged, split_carry(tagged)))


def logical_source(column: Column) -> Column:
    """``file:`` paths under ``LOCAL_S3_ROOT`` shown as the ``s3://`` URIs the job was given."""
    column = F.regexp_replace(column, "^file:/+", "file:///")
    root = uris.local_s3_root()
    if not root:
        return column
    return F.regexp_replace(column, "^file://" + _regex_escape(root) + "/", "s3://")


def _regex_escape(text: str) -> str:
    import re

    return re.escape(text)


def valid_ratings(classified: DataFrame) -> DataFrame:
    """Valid rating rows in the dataset schema plus ``source_file``/``line_number`` (used for the tie rule)."""
    return (classified.where(F.col("kind") == "rating")
            .select(F.col("movie").alias("movie_id"), "customer_id", "rating", "date",
                    F.year("date").alias("year"), F.month("date").alias("month"),
                    "source_file", "line_number"))


def rejects(classified: DataFrame) -> DataFrame:
    return (classified.where(F.col("kind") == "rejected")
            .select(logical_source(F.col("source_file")).alias("source_file"), "line_number",
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
