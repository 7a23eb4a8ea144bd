"""Clustering, persona naming and (later) propensity models, as Spark ML pipelines logged to MLflow."""
