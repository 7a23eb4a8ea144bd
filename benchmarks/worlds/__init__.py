"""Planted worlds for choosing and checking the clustering method (``python -m benchmarks.run --only worlds``).

``write_world(spark, WORLDS["five_segments_independent"], locations, truth_location, as_of)`` writes a world's raw
tables and planted truth with the same signature shape as ``seglib.generate.generate_raw_tables``.
"""

from benchmarks.worlds.generator import draw_world, write_world
from benchmarks.worlds.spec import GROUPS, WORLDS, WorldSpec

__all__ = ["GROUPS", "WORLDS", "WorldSpec", "draw_world", "write_world"]
