"""Recommender building blocks shared by the Netflix jobs (parsing, upsert, ALS helpers, drift statistics)."""
