"""CLI plumbing shared by every job: argparse with ``--result-uri``, exit codes, result JSON on success/failure.

Exit codes: 0 succeeded, 1 failed (result ``status: FAILED`` with the error), 2 bad arguments (argparse's message,
or an :class:`ArgumentError` naming the argument).
"""
from __future__ import annotations

import argparse
import sys
import traceback
from typing import Any, Callable, Mapping, Sequence

from jobs.common.log import get_logger
from jobs.common.result import JobResult
from jobs.common.runtime import check_runtime

EXIT_OK, EXIT_FAILED, EXIT_BAD_ARGS = 0, 1, 2


class ArgumentError(ValueError):
    """A job argument that parsed but is invalid; ``argument`` names the flag (e.g. ``--input``)."""

    def __init__(self, argument: str, message: str):
        super().__init__(f"argument {argument}: {message}")
        self.argument = argument


class JobContext(JobResult):
    """What a job's ``main`` receives next to its parsed arguments: the result being built and the Spark session."""

    def __init__(self, job: str, result_uri: str | None, spark_conf: Mapping[str, str] | None = None):
        super().__init__(job, result_uri)
        self._spark_conf = dict(spark_conf or {})
        self._spark = None
        self._restore: dict[str, str | None] = {}

    @property
    def spark(self):
        if self._spark is None:
            from pyspark.sql import SparkSession

            from jobs.common.spark import get_spark

            active = SparkSession.getActiveSession()
            if active is not None:  # a shared session (tests): undo this job's settings afterwards
                self._restore = {k: active.conf.get(k, None) for k in self._spark_conf}
            self._spark = get_spark(f"jobs.{self.job}", self._spark_conf)
        return self._spark

    def close(self) -> None:
        if self._spark is not None:
            conf = self._spark.conf
            self.extra["spark"] = {"version": self._spark.version, "master": conf.get("spark.master", None),
                                   "applicationId": self._spark.sparkContext.applicationId,
                                   "shufflePartitions": conf.get("spark.sql.shuffle.partitions", None)}
            for key, value in self._restore.items():
                if value is None:
                    self._spark.conf.unset(key)
                else:
                    self._spark.conf.set(key, value)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Arguments every job takes: where its result goes, how long the tables it writes keep older versions."""
    from jobs.common.datasets import DEFAULT_RETENTION_DAYS

    parser.add_argument("--result-uri", required=True, metavar="URI",
                        help="where to write the job result JSON (s3://… or a local path)")
    parser.add_argument("--retention-days", type=positive_int, default=DEFAULT_RETENTION_DAYS, metavar="DAYS",
                        help="older versions of the tables this job writes stay readable (time travel) this long")


def new_parser(job: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"jobs.{job}", description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_common_args(parser)
    return parser


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value != value or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def fraction(text: str) -> float:
    value = non_negative_float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be strictly between 0 and 1, got {text}")
    return value


def uri_list(text: str) -> list[str]:
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise argparse.ArgumentTypeError("needs at least one URI")
    return items


def run_job(job: str, build_parser: Callable[[], argparse.ArgumentParser],
            main: Callable[[Any, JobContext], None], argv: Sequence[str] | None = None,
            spark_conf: Callable[[Any], Mapping[str, str]] | None = None) -> int:
    """Parses ``argv``, checks the interpreter and Spark against what the dependency archive was built for
    (:func:`jobs.common.runtime.check_runtime`, before any Spark work), runs ``main(args, ctx)`` and writes the
    result JSON; returns the exit code."""
    log = get_logger(f"jobs.{job}")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed usage + "error: argument --x: …" (2) or --help (0)
        return int(exc.code or 0)
    ctx = JobContext(job, getattr(args, "result_uri", None), spark_conf(args) if spark_conf else None)
    try:
        check_runtime()
        if getattr(args, "retention_days", None):
            from jobs.common import datasets

            datasets.set_retention_days(args.retention_days)
        main(args, ctx)
    except ArgumentError as exc:
        ctx.close()
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        ctx.write("FAILED", f"ArgumentError: {exc}")
        return EXIT_BAD_ARGS
    except Exception as exc:  # noqa: BLE001 - every failure must end in a FAILED result and exit 1
        log.error("job failed: %s\n%s", exc, traceback.format_exc())
        ctx.close()
        ctx.write("FAILED", f"{type(exc).__name__}: {exc}"[:4000])
        return EXIT_FAILED
    ctx.close()
    ctx.write("SUCCEEDED")
    return EXIT_OK
