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

The ETL (:class:`NetflixInput`) runs this as: one cheap pass over the chunks for the small per-chunk table (kept
cached: a row per chunk, i.e. per movie and file), then ONE parse of the middle lines, which feeds the upsert's hash
aggregation directly — nothing of the size of the data is persisted. Rejects are re-parsed only from the chunks that
held one (their positions are observed during that parse), so a clean file is parsed once. The tie rule's order
(greatest source file, then line) is a line ordinal: the lines of all files numbered in file-URI order.
"""
from __future__ import annotations

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Observation, SparkSession, Window
from pyspark.sql import functions as F

from jobs.common import datasets, uris

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
BAD_DATE = "bad_date"                  # not a valid yyyy-MM-dd calendar date (years 0000-9999)

_MALFORMED_HEADER = -1
_INT = r"^[0-9]{1,10}$"
# Dates Spark's cast accepts from a 10-character string beyond 4-digit years ("123456-1-1") are not yyyy-MM-dd.
_MIN_DATE, _MAX_DATE = "0000-01-01", "9999-12-31"


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
    newline_count = F.octet_length("chunk") - F.octet_length(F.replace(F.col("chunk"), F.lit("\n"), F.lit("")))
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
    movie of its middle rows (the current header after the line that ends at its first piece), its newline count
    ``m`` and line offset.
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
                    .select("source_file", "split_start", "pos", "m", "chunk_movie", "line_offset"))
    return lines.select("source_file", "line_number", "value", "movie", "header"), chunk_movies


def middle_lines(chunks: DataFrame, chunk_movies: DataFrame, carry: tuple[str, ...] = ()) -> DataFrame:
    """Complete colon-free lines inside chunks, with their movie and line number (the data is not shuffled).

    ``chunk_movies`` (one small row per chunk, broadcast) is joined to the chunks on their position (unique in one
    scan) before they are split into lines; ``carry`` names more of its columns to keep.
    """
    info = F.broadcast(chunk_movies.select("pos", "m", "chunk_movie", "line_offset", *carry))
    exploded = chunks.join(info, "pos").select(
        "source_file", "pos", "m", "chunk_movie", "line_offset", *carry,
        F.posexplode(F.split("chunk", "\n", -1)).alias("idx", "value"))
    inner = exploded.where((F.col("idx") > 0) & (F.col("idx") < F.col("m")))
    return inner.select("source_file", "pos", "idx",
                        (F.lit(1) + F.col("line_offset") + F.col("idx")).cast("long").alias("line_number"),
                        "value", F.col("chunk_movie").alias("movie"), F.lit(None).cast("int").alias("header"),
                        *carry)


def lines_with_movies(chunks: DataFrame) -> DataFrame:
    """Every line of the input with ``source_file, line_number, value, movie, header, text, blank``."""
    stitched, chunk_movies = stitched_lines(chunk_table(chunks))
    columns = ["source_file", "line_number", "value", "movie", "header"]
    lines = middle_lines(chunks, chunk_movies).select(*columns).unionByName(stitched.select(*columns))
    text = F.expr("trim(BOTH ' \\t\\r\\f' FROM value)")
    return lines.withColumn("text", text).withColumn("blank", F.col("text") == "")


def _with_reasons(lines: DataFrame, keep: list[str]) -> DataFrame:
    """Non-blank lines (``value, movie, header``) parsed: ``keep`` columns, ``movie, header, cust, rating_int,
    date_value`` and ``reason`` (null: a valid header or rating).

    Field parsing uses Spark's cheap casts (``try_cast``) rather than regular expressions; each stage is its own
    projection so the parsed values are computed once per row.
    """
    text = F.expr("trim(BOTH ' \\t\\r\\f' FROM value)")
    texts = lines.select(*keep, "movie", "header", text.alias("text"))
    fields = (texts.where(F.col("text") != "")
              .select(*keep, "movie", "header", F.split(F.col("text"), ",", -1).alias("fields")))
    parsed = fields.select(
        *keep, "movie", "header", F.size("fields").alias("n_fields"),
        F.trim(F.get("fields", 0)).try_cast("int").alias("cust"),
        F.trim(F.get("fields", 1)).try_cast("int").alias("rating_int"),
        F.trim(F.get("fields", 2)).alias("date_text"))
    parsed = parsed.withColumn("date_value", F.when(F.length("date_text") == 10,
                                                    F.col("date_text").try_cast("date"))).drop("date_text")
    parsed = parsed.withColumn("date_value", F.when(F.col("date_value").between(F.lit(_MIN_DATE).cast("date"),
                                                                                 F.lit(_MAX_DATE).cast("date")),
                                                    F.col("date_value")))
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
    return parsed.withColumn("reason", reason)


def classify(assigned: DataFrame) -> DataFrame:
    """Parses rating rows and sets ``kind`` (header / rating / rejected) and ``reason`` for every non-blank line."""
    with_reason = _with_reasons(assigned, ["source_file", "line_number", "value"])
    is_header = F.col("header").isNotNull()
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


class NetflixInput:
    """Netflix text files as the ETL reads them: small cached boundary tables, then one parse of the data.

    Construction runs the one cheap pass: the per-chunk table (newline count, first/last piece; a row per chunk),
    from which the stitched boundary lines, each chunk's movie and line offset and each file's line count are
    derived and cached (all of the order of the number of movies × files, never of the data). Then
    :meth:`ratings` is the one parse of the middle lines, lazily, for the upsert to consume; it observes which
    chunks hold rejected lines, so :meth:`rejects` (after that parse ran) re-parses only those chunks.

    ``ordinal``: the line's position in the tie rule's order — files by URI (``source_file``, as Spark names it),
    then line number — as one long: ``lines of the files before`` + ``line_number``. :attr:`counts` has the
    boundary lines' ``headers``, ``ratings``, ``rejected`` (the middle lines hold no header).
    """

    def __init__(self, spark: SparkSession, inputs: list[str]):
        self.spark = spark
        self.chunks = read_chunks(spark, inputs)
        self._cached: list[DataFrame] = []
        # The tables are small: planned with one shuffle partition, each query over them (and every cached
        # table) is one task instead of one per shuffle partition.
        previous = spark.conf.get("spark.sql.shuffle.partitions")
        spark.conf.set("spark.sql.shuffle.partitions", "1")
        try:
            self._build(spark)
        except BaseException:
            self.unpersist()
            raise
        finally:
            spark.conf.set("spark.sql.shuffle.partitions", previous)
        self._reject_chunks: Observation | None = None

    def _build(self, spark: SparkSession) -> None:
        table = self._cache(chunk_table(self.chunks))
        stitched, chunk_movies = stitched_lines(table)
        files = sorted((r["source_file"], int(r["lines"])) for r in
                       table.groupBy("source_file").agg((F.sum("m") + 1).alias("lines")).collect())
        bases, total = [], 0
        for name, lines in files:  # one row per input file
            bases.append((name, total))
            total += lines
        self.total_lines = total
        if total >= 1 << ORDINAL_BITS:
            raise ValueError(f"argument --input: {total} lines in one run; at most {(1 << ORDINAL_BITS) - 1} "
                             "(split the input into several runs)")
        # lines of the files before (by URI): a literal map, no Python-side DataFrame (no Python worker)
        file_base = F.create_map(*[F.lit(v) for name, base in bases for v in (name, base)]) \
            if bases else F.create_map().cast("map<string,bigint>")
        self.chunk_info = self._cache(chunk_movies.select(
            "pos", "m", "chunk_movie", "line_offset",
            (file_base[F.col("source_file")] + 1 + F.col("line_offset")).cast("long").alias("ordinal_base")))
        self.stitched = self._cache(_with_reasons(
            stitched.withColumn("ordinal", (file_base[F.col("source_file")] + F.col("line_number")).cast("long")),
            ["source_file", "line_number", "value", "ordinal"]))
        row = self.stitched.agg(
            F.count(F.when(F.col("reason").isNull() & F.col("header").isNotNull(), 1)).alias("headers"),
            F.count(F.when(F.col("reason").isNull() & F.col("header").isNull(), 1)).alias("ratings"),
            F.count("reason").alias("rejected")).first()
        self.counts = {k: int(row[k]) for k in ("headers", "ratings", "rejected")}

    def _cache(self, df: DataFrame) -> DataFrame:
        df = df.persist(StorageLevel.MEMORY_AND_DISK)
        self._cached.append(df)
        df.count()
        return df

    def ratings(self) -> DataFrame:
        """Valid rating rows ``movie_id, customer_id, rating, date, _ordinal`` (lazy: the parse of the data)."""
        middle = _with_reasons(middle_lines(self.chunks, self.chunk_info, ("ordinal_base",)),
                               ["pos", "idx", "ordinal_base"])
        self._reject_chunks = Observation()
        middle = middle.observe(self._reject_chunks, F.array_join(F.collect_set(
            F.when(F.col("reason").isNotNull(), F.col("pos").cast("string"))), ",").alias("chunks"))
        columns = [F.col("movie").alias("movie_id"), F.col("cust").alias("customer_id"),
                   F.col("rating_int").alias("rating"), F.col("date_value").alias("date")]
        valid = F.col("reason").isNull() & F.col("header").isNull()
        return (middle.where(valid).select(*columns, (F.col("ordinal_base") + F.col("idx")).alias("_ordinal"))
                .unionByName(self.stitched.where(valid).select(*columns, F.col("ordinal").alias("_ordinal"))))

    def reject_chunks(self) -> list[int]:
        """Positions of the chunks whose middle lines hold a reject (after the action over :meth:`ratings`)."""
        if self._reject_chunks is None:
            raise RuntimeError("ratings() was not computed yet")
        text = self._reject_chunks.get.get("chunks") or ""
        return sorted(int(p) for p in text.split(",") if p)

    def rejects(self) -> DataFrame:
        """Rejected lines ``source_file, line_number, raw_line, reason``: the boundary lines' (cached) and those of
        the chunks :meth:`reject_chunks` names, parsed again from a scan that skips every other chunk."""
        columns = ["source_file", "line_number", "value", "reason"]
        rows = self.stitched.where(F.col("reason").isNotNull()).select(*columns)
        positions = self.reject_chunks()
        if positions:
            chunks = self.chunks.where(F.col("pos").isin(positions))  # a hash set of at most one per chunk
            middle = _with_reasons(middle_lines(chunks, self.chunk_info), ["source_file", "line_number", "value"])
            rows = middle.where(F.col("reason").isNotNull()).select(*columns).unionByName(rows)
        return rows.select(source_uri(F.col("source_file")).alias("source_file"), "line_number",
                           F.col("value").alias("raw_line"), "reason")

    def unpersist(self) -> None:
        for df in self._cached:
            df.unpersist()
        self._cached = []


# Upsert key packing: date (days + offset), incoming-batch flag, line ordinal and rating in one positive long, so
# "the greatest (date, batch, ordinal)" is max() of a long and the dedup is a hash aggregation.
ORDINAL_BITS = 36
_RATING_BITS, _DATE_BITS = 3, 23
_ORDINAL_SHIFT = _RATING_BITS
_BATCH_SHIFT = _ORDINAL_SHIFT + ORDINAL_BITS
_DATE_SHIFT = _BATCH_SHIFT + 1
_DATE_OFFSET = 1 << (_DATE_BITS - 1)   # unix days −4 194 304 … 4 194 303: years ≈ −9500 … 13400
assert _DATE_SHIFT + _DATE_BITS == 63


def _packed(date: Column, batch: int, ordinal: Column, rating: Column) -> Column:
    days = F.unix_date(date).cast("long") + F.lit(_DATE_OFFSET)
    ordinal = ordinal.cast("long")
    rating = rating.cast("long")
    packed = (F.shiftleft(days, _DATE_SHIFT) + F.lit(batch << _BATCH_SHIFT) + F.shiftleft(ordinal, _ORDINAL_SHIFT)
              + rating)
    fits = (days.between(0, (1 << _DATE_BITS) - 1) & ordinal.between(0, (1 << ORDINAL_BITS) - 1)
            & rating.between(0, (1 << _RATING_BITS) - 1))
    return F.when(fits, packed).otherwise(F.raise_error(F.concat(
        F.lit("upsert: cannot order date/rating "), date.cast("string"), F.lit("/"), rating.cast("string"))))


def upsert(existing: DataFrame | None, incoming: DataFrame, observation: Observation | None = None) -> DataFrame:
    """Upsert on key (movie_id, customer_id): one row per key, the one with the latest ``date``.

    Tie rule (same key, same date): a row of the incoming batch beats the existing dataset; inside the batch the
    row appearing last wins (greatest source file URI, then greatest line number). Applying the same batch twice
    therefore yields the same dataset (idempotent).

    ``incoming`` either has ``source_file``/``line_number`` (sorted per key by a window) or ``_ordinal`` — the
    position in that order as one long (:class:`NetflixInput`) — in which case the winner is a hash aggregation's
    ``max`` of one packed long per row (no sort) and ``observation`` (optional) receives ``written``,
    ``incoming`` and ``existing`` row counts from the result stage (exact even when map tasks rerun).
    """
    if "_ordinal" in incoming.columns:
        return _upsert_hashed(existing, incoming, observation)
    if observation is not None:
        raise ValueError("upsert: an observation needs incoming rows with _ordinal")
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


# The upsert as a MERGE condition: an incoming row (s) replaces the stored one (t) of its key when it is later, or
# of the same date (the batch wins the tie) with another rating; anything else would rewrite a file for nothing.
CHANGED = "s.date > t.date OR (s.date = t.date AND s.rating <> t.rating)"
KEYS = ("movie_id", "customer_id")


def merge_into(table: str, incoming: DataFrame, **metadata):
    """:func:`upsert` of ``incoming`` (rows with ``_ordinal``) into the ratings table at ``table`` as a Delta MERGE
    of the batch's own winner per key (hash aggregation, the tie rule of :func:`upsert`). Returns (version
    reference, {existing, incoming (the batch's rows), inserted, updated, commit})."""
    if "_ordinal" not in incoming.columns:
        raise ValueError("merge_into: incoming rows need _ordinal (their position in the batch's order)")
    spark = incoming.sparkSession
    before = datasets.read_dataset(spark, table, required=False)
    existing = before.count() if before is not None else 0  # from the table's file statistics, no scan
    batch = _upsert_hashed(None, incoming, None, keep_incoming=True)
    ref, merged = datasets.merge_dataset(batch, table, KEYS, CHANGED, partition_by=["year", "month"],
                                         sums=["_incoming"], **metadata)
    return ref, {"existing": existing, "incoming": merged.pop("sums")["_incoming"], **merged}


def _upsert_hashed(existing: DataFrame | None, incoming: DataFrame, observation: Observation | None,
                   keep_incoming: bool = False) -> DataFrame:
    keys = [F.col("movie_id").cast("int").alias("movie_id"), F.col("customer_id").cast("int").alias("customer_id")]
    rows = incoming.select(*keys, _packed(F.col("date").cast("date"), 1, F.col("_ordinal"), F.col("rating"))
                           .alias("_packed"), F.lit(1).alias("_incoming"))
    if existing is not None:
        rows = existing.select(*keys, _packed(F.col("date").cast("date"), 0, F.lit(0), F.col("rating"))
                               .alias("_packed"), F.lit(0).alias("_incoming")).unionByName(rows)
    best = rows.groupBy("movie_id", "customer_id").agg(
        F.max("_packed").alias("_packed"), F.sum("_incoming").alias("_incoming"), F.count(F.lit(1)).alias("_rows"))
    date = F.date_from_unix_date((F.shiftright("_packed", _DATE_SHIFT) - F.lit(_DATE_OFFSET)).cast("int"))
    merged = best.select("movie_id", "customer_id",
                         F.col("_packed").bitwiseAND(F.lit((1 << _RATING_BITS) - 1)).cast("int").alias("rating"),
                         date.alias("date"), "_incoming", "_rows")
    merged = merged.withColumn("year", F.year("date")).withColumn("month", F.month("date"))
    if observation is not None:
        merged = merged.observe(observation, F.count(F.lit(1)).alias("written"),
                                F.coalesce(F.sum("_incoming"), F.lit(0)).alias("incoming"),
                                F.coalesce(F.sum(F.col("_rows") - F.col("_incoming")), F.lit(0)).alias("existing"))
    return merged.select(*RATING_COLUMNS, *(["_incoming"] if keep_incoming else []))


def _schema_pairs() -> list[tuple[str, str]]:
    return [tuple(part.strip().split(" ")) for part in RATINGS_SCHEMA.split(",")]
