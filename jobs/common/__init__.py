"""Helpers shared by every job: SparkSession, URIs and file systems, versioned datasets, result JSON, CLI, logging."""
from jobs.common.cli import ArgumentError, JobContext, run_job
from jobs.common.datasets import commit_version, new_version_uri, read_dataset, resolve_dataset, write_dataset
from jobs.common.log import get_logger
from jobs.common.spark import get_spark
from jobs.common.uris import join_uri, to_physical

__all__ = [
    "ArgumentError", "JobContext", "run_job",
    "commit_version", "new_version_uri", "read_dataset", "resolve_dataset", "write_dataset",
    "get_logger", "get_spark", "join_uri", "to_physical",
]
