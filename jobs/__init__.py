"""PySpark jobs of the ML pipelines (entry scripts ``jobs/<name>.py``, shared helpers in ``jobs.common``)."""
