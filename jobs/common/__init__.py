"""Helpers shared by every job: SparkSession, URIs and file systems, lake tables, result JSON, CLI, logging."""
