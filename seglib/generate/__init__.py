"""Synthetic, seeded, Spark-native raw data with planted segments (``seg generate``)."""

from __future__ import annotations

from seglib.generate.tables import CONTRACT, TRUTH_CONTRACT, build_raw_tables, generate_raw_tables

__all__ = ["CONTRACT", "TRUTH_CONTRACT", "build_raw_tables", "generate_raw_tables"]
