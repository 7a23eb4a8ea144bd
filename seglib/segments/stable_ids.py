"""Stable segment ids: a re-fit's clusters inherit the ids and names of the previous snapshot's segments.

A model's cluster numbers are arbitrary (a re-fit may permute them), so each snapshot's clusters are matched to the
previously published segments by member overlap: the k x k' overlap counts are aggregated in Spark, and the Hungarian
assignment on that small matrix maximises the total Jaccard similarity. A pair below ``id_match_min_jaccard`` is not
a match: the cluster becomes a new segment with a fresh id, and the old segment is reported as vanished. Fresh ids
continue after the highest id ever written, so a vanished id is never reused. When no subject is in both snapshots
(e.g. after a pseudonym key rotation) the match falls back to centroid distance against the previous profiles.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from scipy.optimize import linear_sum_assignment

from seglib.frames import first_row

log = logging.getLogger(__name__)

ID_PREFIX = "S"
_ID_PATTERN = re.compile(rf"^{ID_PREFIX}(\d+)$")


def format_segment_id(number: int) -> str:
    return f"{ID_PREFIX}{number:03d}"


@dataclass(frozen=True)
class PreviousSegments:
    """The published cluster segments of the snapshot before this one (ids, names, sizes: small)."""

    snapshot_date: date | None
    names: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    next_number: int = 1  # first fresh id number: one past the highest id ever written


@dataclass(frozen=True)
class SegmentMatch:
    """cluster -> segment id (and inherited name); which clusters are new and which old segments vanished."""

    ids: dict[int, str]
    inherited_names: dict[int, str]
    new_clusters: list[int]
    vanished: dict[str, str]  # segment_id -> name
    method: str  # first_snapshot | overlap | centroid
    similarity: dict[int, float] = field(default_factory=dict)  # Jaccard (overlap) or distance (centroid)

    def report(self) -> dict:
        return {
            "method": self.method,
            "matched": {self.ids[c]: round(s, 4) for c, s in sorted(self.similarity.items())},
            "new": sorted(self.ids[c] for c in self.new_clusters),
            "vanished": dict(sorted(self.vanished.items())),
        }


def cluster_rows(membership: DataFrame) -> DataFrame:
    """The subjects the clustering placed (not those the classifier or the fallback did): ids follow the clusters."""
    return membership.where(F.col("assignment_source") == "cluster")


def previous_segments(membership: DataFrame | None, as_of: date) -> PreviousSegments:
    """The latest published snapshot strictly before ``as_of`` (k rows reach the driver)."""
    if membership is None:
        return PreviousSegments(None)
    clusters = cluster_rows(membership)
    # Ids of the snapshot being replaced are free again; every other id ever written is not (no reuse).
    digits = F.regexp_extract("segment_id", _ID_PATTERN.pattern, 1)  # "" unless the id has seglib's shape
    number = F.when(F.length(digits).between(1, 9), digits.cast("int"))
    numbers = first_row(
        clusters.select(
            F.max(F.when(F.col("snapshot_date") != F.lit(as_of), number)).alias("top"),
            F.max(F.when(F.col("snapshot_date") < F.lit(as_of), F.col("snapshot_date"))).alias("previous"),
        )
    )
    next_number = (numbers["top"] or 0) + 1
    if numbers["previous"] is None:
        return PreviousSegments(None, next_number=next_number)
    rows = (
        clusters.where(F.col("snapshot_date") == F.lit(numbers["previous"]))
        .groupBy("segment_id")
        .agg(F.first("segment_name", ignorenulls=True).alias("segment_name"), F.count(F.lit(1)).alias("size"))
        .collect()
    )
    return PreviousSegments(
        numbers["previous"],
        names={r["segment_id"]: r["segment_name"] for r in rows},
        sizes={r["segment_id"]: int(r["size"]) for r in rows},
        next_number=next_number,
    )


def overlap_counts(assigned: DataFrame, membership: DataFrame, snapshot_date: date) -> dict[tuple[int, str], int]:
    """(cluster_id, previous segment_id) -> subjects in both; a k x k' aggregate computed in Spark."""
    previous = cluster_rows(membership).where(F.col("snapshot_date") == F.lit(snapshot_date))
    rows = (
        assigned.select("subject_id", "cluster_id")
        .join(previous.select("subject_id", "segment_id"), "subject_id")
        .groupBy("cluster_id", "segment_id")
        .count()
        .collect()
    )
    return {(int(r["cluster_id"]), r["segment_id"]): int(r["count"]) for r in rows}


def _hungarian(score: np.ndarray) -> list[tuple[int, int]]:
    """Row/column pairs maximising the total score (rectangular matrices allowed)."""
    rows, cols = linear_sum_assignment(score, maximize=True)
    return list(zip(rows.tolist(), cols.tolist(), strict=True))


def match_by_overlap(
    overlap: Mapping[tuple[int, str], int],
    cluster_sizes: Mapping[int, int],
    segment_sizes: Mapping[str, int],
    min_jaccard: float,
) -> dict[int, tuple[str, float]]:
    """cluster -> (segment id, Jaccard) for the maximum-total-Jaccard one-to-one matching above ``min_jaccard``."""
    clusters, segments = sorted(cluster_sizes), sorted(segment_sizes)
    jaccard = np.zeros((len(clusters), len(segments)))
    for i, c in enumerate(clusters):
        for j, s in enumerate(segments):
            both = overlap.get((c, s), 0)
            union = cluster_sizes[c] + segment_sizes[s] - both
            jaccard[i, j] = both / union if union else 0.0
    # Pairs below the floor score 0 so they cannot outweigh an admissible pair in the total.
    admissible = np.where(jaccard >= min_jaccard, jaccard, 0.0)
    return {
        clusters[i]: (segments[j], float(jaccard[i, j]))
        for i, j in _hungarian(admissible)
        if jaccard[i, j] >= min_jaccard
    }


def rms_distance(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Root-mean-square difference over the features both have, in standard deviations."""
    common = sorted(set(a) & set(b))
    if not common:
        return math.inf
    return math.sqrt(sum((a[f] - b[f]) ** 2 for f in common) / len(common))


def match_by_centroid(
    new_z: Mapping[int, Mapping[str, float]], previous_z: Mapping[str, Mapping[str, float]], max_distance: float
) -> dict[int, tuple[str, float]]:
    """cluster -> (segment id, distance) for the minimum-total-distance matching within ``max_distance``."""
    clusters, segments = sorted(new_z), sorted(previous_z)
    if not clusters or not segments:
        return {}
    distance = np.array([[rms_distance(new_z[c], previous_z[s]) for s in segments] for c in clusters])
    # Closeness within the limit, 0 beyond it: far pairs cannot distort the assignment of near ones.
    closeness = np.where(distance <= max_distance, max_distance - distance + 1e-9, 0.0)
    return {
        clusters[i]: (segments[j], float(distance[i, j]))
        for i, j in _hungarian(closeness)
        if distance[i, j] <= max_distance
    }


def assign_segment_ids(
    cluster_sizes: Mapping[int, int],
    previous: PreviousSegments,
    matched: Mapping[int, tuple[str, float]],
    method: str,
) -> SegmentMatch:
    """Matched clusters keep their segment's id and name; the rest get fresh ids, largest cluster first."""
    ids = {c: seg for c, (seg, _) in matched.items()}
    new_clusters = sorted((c for c in cluster_sizes if c not in ids), key=lambda c: (-cluster_sizes[c], c))
    for offset, cluster in enumerate(new_clusters):
        ids[cluster] = format_segment_id(previous.next_number + offset)
    kept = set(ids.values())
    return SegmentMatch(
        ids=ids,
        inherited_names={c: previous.names[seg] for c, (seg, _) in matched.items() if previous.names.get(seg)},
        new_clusters=new_clusters,
        vanished={s: n for s, n in previous.names.items() if s not in kept},
        method=method if previous.snapshot_date else "first_snapshot",
        similarity={c: sim for c, (_, sim) in matched.items()},
    )


def stable_segment_ids(
    assigned: DataFrame,
    cluster_sizes: Mapping[int, int],
    membership: DataFrame | None,
    as_of: date,
    min_jaccard: float,
    centroid_fallback: tuple[Mapping[int, Mapping[str, float]], Mapping[str, Mapping[str, float]]] | None = None,
    max_distance: float = 1.0,
) -> SegmentMatch:
    """Map this snapshot's clusters (``assigned``: subject_id, cluster_id) onto the previous snapshot's segments.

    ``membership`` is the published membership table (None before the first publication). ``centroid_fallback`` is
    (this snapshot's cluster z-scores, the previous segments' z-scores), used only when no subject overlaps.
    """
    previous = previous_segments(membership, as_of)
    if previous.snapshot_date is None or membership is None:  # no membership: no previous snapshot either
        return assign_segment_ids(cluster_sizes, previous, {}, "first_snapshot")
    overlap = overlap_counts(assigned, membership, previous.snapshot_date)
    if overlap:
        matched = match_by_overlap(overlap, cluster_sizes, previous.sizes, min_jaccard)
        result = assign_segment_ids(cluster_sizes, previous, matched, "overlap")
    elif centroid_fallback is not None:
        log.warning("no subject in both %s and %s: matching segments by centroid", previous.snapshot_date, as_of)
        matched = match_by_centroid(centroid_fallback[0], centroid_fallback[1], max_distance)
        result = assign_segment_ids(cluster_sizes, previous, matched, "centroid")
    else:
        result = assign_segment_ids(cluster_sizes, previous, {}, "none")
    if result.new_clusters or result.vanished:
        log.warning("segments new: %s; vanished: %s", result.report()["new"], result.report()["vanished"])
    return result
