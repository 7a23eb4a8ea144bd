"""``seg show``: the published segments (or one segment's size and members) at the current or a past version."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglib.config import SeglibConfig
from seglib.delta_io import current_version, read_table, table_exists
from seglib.errors import MissingInputError, SeglibError
from seglib.tables import Warehouse


def membership_at(spark: SparkSession, cfg: SeglibConfig, as_of: str | None) -> DataFrame:
    """segments/segment_membership now, at a Delta version (digits) or at a timestamp."""
    location = Warehouse.of(cfg).location("segments/segment_membership")
    if not table_exists(spark, location):
        raise MissingInputError(f"no published segments at {location}: run `seg segments` (or `seg run`) first")
    if as_of is None:
        return read_table(spark, location)
    if as_of.isdigit():
        latest = current_version(spark, location)
        if latest is not None and int(as_of) > latest:
            raise MissingInputError(f"--as-of {as_of}: {location} has versions 0..{latest}")
        return read_table(spark, location, version=int(as_of))
    from pyspark.errors import AnalysisException

    try:
        return read_table(spark, location, timestamp=as_of)
    except AnalysisException as e:  # a timestamp before the first commit or after the last
        raise MissingInputError(f"--as-of {as_of}: {str(e).splitlines()[0]}") from None


def show_segments(
    spark: SparkSession, cfg: SeglibConfig, as_of: str | None, segment: str | None, family: str | None, limit: int
) -> str:
    membership = membership_at(spark, cfg, as_of)
    if family is not None:
        membership = membership.where(F.col("segment_family") == family)
    at = f" at {as_of}" if as_of else ""
    if segment is None:
        rows = (
            membership.groupBy("segment_family", "segment_id", "segment_name", "meets_min_size")
            .agg(F.count(F.lit(1)).alias("size"), F.max("snapshot_date").alias("snapshot_date"))
            .orderBy("segment_family", F.desc("size"), "segment_id")
            .collect()  # one row per segment
        )
        lines = [f"{'family':<20} {'id':<28} {'name':<32} {'size':>8}  snapshot"]
        for r in rows:
            flag = "" if r["meets_min_size"] else "  below minimum size"
            lines.append(
                f"{r['segment_family']:<20} {r['segment_id']:<28} {r['segment_name'][:32]:<32} "
                f"{r['size']:>8}  {r['snapshot_date']}{flag}"
            )
        return "\n".join(lines) if rows else f"no segments{at}"
    chosen = membership.where((F.col("segment_name") == segment) | (F.col("segment_id") == segment))
    found = (
        chosen.groupBy("segment_family", "segment_id", "segment_name")
        .agg(
            F.count(F.lit(1)).alias("size"),
            F.min(F.col("meets_min_size").cast("int")).alias("ok"),
            F.max("snapshot_date").alias("snapshot_date"),
        )
        .collect()
    )
    if not found:
        raise SeglibError(f"no segment named or with id {segment!r}{at}" + (f" in family {family}" if family else ""))
    if len(found) > 1:
        families = sorted(r["segment_family"] for r in found)
        raise SeglibError(f"segment {segment!r} exists in several families {families}: add --family")
    seg = found[0]
    lines = [
        f"{seg['segment_family']} / {seg['segment_id']} {seg['segment_name']!r}: {seg['size']} subjects "
        f"(snapshot {seg['snapshot_date']}{at})"
    ]
    if not seg["ok"]:
        lines.append("members withheld: the segment is below segments.min_segment_size/min_segment_share (k-anonymity)")
        return "\n".join(lines)
    members = chosen.select("subject_id").orderBy("subject_id").limit(limit).collect()  # at most `limit` rows
    lines += [f"  {r['subject_id']}" for r in members]
    if seg["size"] > limit:
        lines.append(f"  ... {seg['size'] - limit} more (--limit)")
    return "\n".join(lines)
