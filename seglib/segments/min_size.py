"""Minimum segment size: a cluster below the absolute or share floor is merged into its nearest neighbour or flagged.

Tiny groups are never published silently: they cannot be activated (k-anonymity) and are usually noise. "Nearest"
is the Euclidean distance between member-mean centroids in standardised feature space (z-scores against the whole
snapshot), so every feature counts in standard deviations whatever its unit.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SizePlan:
    """What happens to each cluster: ``target`` maps a merged cluster to the one absorbing it; ``small`` lists
    the clusters published flagged (policy flag)."""

    target: dict[int, int] = field(default_factory=dict)
    small: list[int] = field(default_factory=list)

    def sources(self, clusters: list[int]) -> dict[int, list[int]]:
        """Surviving cluster -> the raw clusters it is made of (itself first)."""
        out = {c: [c] for c in clusters if c not in self.target}
        for merged, into in sorted(self.target.items()):
            out[into].append(merged)
        return out


def too_small(sizes: Mapping[int, int], min_size: int, min_share: float) -> list[int]:
    total = sum(sizes.values())
    return sorted(c for c, n in sizes.items() if n < min_size or (total and n / total < min_share))


def euclidean(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    return math.sqrt(sum((a[f] - b.get(f, 0.0)) ** 2 for f in a))


def plan_min_size(
    sizes: Mapping[int, int],
    z_centroids: Mapping[int, Mapping[str, float]],
    min_size: int,
    min_share: float,
    policy: str,
) -> SizePlan:
    """Decide per cluster: keep, merge into the nearest cluster that meets the floor, or flag.

    With policy ``merge`` and no cluster meeting the floor, nothing can absorb the others: they are flagged instead
    (and a warning says so) rather than collapsed into one arbitrary group.
    """
    small = too_small(sizes, min_size, min_share)
    if not small:
        return SizePlan()
    large = [c for c in sorted(sizes) if c not in small]
    if policy == "flag" or not large:
        if policy == "merge":
            log.warning("every cluster is below the minimum size; publishing them flagged instead of merging")
        log.warning("clusters below the minimum size, published flagged: %s", {c: sizes[c] for c in small})
        return SizePlan(small=small)

    def nearest(c: int) -> int:
        return min(large, key=lambda other: (euclidean(z_centroids[c], z_centroids[other]), other))

    target = {c: nearest(c) for c in small}
    log.warning("clusters below the minimum size merged into their nearest neighbour: %s", target)
    return SizePlan(target=target)


def remapped_cluster(target: Mapping[int, int]) -> Column:
    """The cluster a subject ends up in after merges (a literal map lookup: no join, no UDF)."""
    mapping = F.create_map(*[F.lit(v) for pair in sorted(target.items()) for v in pair])
    return F.coalesce(mapping[F.col("cluster_id")], F.col("cluster_id"))


def apply_plan(assigned: DataFrame, plan: SizePlan) -> DataFrame:
    """Move members of merged clusters; their max probability referred to the old cluster, so it becomes null."""
    if not plan.target:
        return assigned
    moved = F.col("cluster_id").isin(list(plan.target))
    columns = {"cluster_id": remapped_cluster(plan.target)}
    if "max_probability" in assigned.columns:
        columns["max_probability"] = F.when(moved, F.lit(None).cast("double")).otherwise(F.col("max_probability"))
    return assigned.withColumns(columns)  # both from the input columns, evaluated together
