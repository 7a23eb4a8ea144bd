"""Describe segments as personas from their members, never from a model's internals or a hand-typed dict.

Per segment: size, centroid in original units (member means), z-scores of the centroid against the whole snapshot,
the features that distinguish it most, a generated name and a one-paragraph description. All per-subject work is
one Spark aggregation (``rollup``: the per-segment rows and the population row in the same pass); only the
k x d aggregate reaches the driver.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import NumericType

KEY_COLUMNS = ("subject_id", "snapshot_date")
# Below this |z| nothing about a segment is distinctive enough to name it by.
DISTINCTIVE_Z = 0.25
# z-scores are rounded before ranking so float noise in Spark's sums cannot reorder ties between runs.
Z_DECIMALS = 6

# (word when the segment is above average, word when below). Unknown features fall back to high-/low-<column>.
FEATURE_WORDS: dict[str, tuple[str, str]] = {
    "recency_days": ("lapsed", "recent"),
    "frequency_30d": ("frequent-lately", "not-buying-lately"),
    "frequency_90d": ("frequent", "infrequent"),
    "frequency_365d": ("frequent", "infrequent"),
    "f_score": ("frequent", "infrequent"),
    "r_score": ("recent", "lapsed"),
    "monetary_30d": ("high-spend", "low-spend"),
    "monetary_90d": ("high-spend", "low-spend"),
    "monetary_365d": ("high-spend", "low-spend"),
    "m_score": ("high-spend", "low-spend"),
    "clv_historical": ("high-value", "low-value"),
    "aov_365d": ("big-basket", "small-basket"),
    "events_90d": ("highly-active", "quiet"),
    "sessions_90d": ("frequent-visitor", "rare-visitor"),
    "page_views_90d": ("browsing", "non-browsing"),
    "email_opens_90d": ("email-reading", "email-ignoring"),
    "email_open_rate_90d": ("email-reading", "email-ignoring"),
    "engagement_trend": ("warming-up", "cooling-down"),
    "tenure_days": ("long-tenured", "new"),
    "engagement_index": ("engaged", "disengaged"),
    "searches_per_session_90d": ("searching", "non-searching"),
    "support_tickets_90d": ("support-heavy", "self-sufficient"),
    "feature_uses_per_week_90d": ("power-user", "light-user"),
    "cart_abandonment_rate_90d": ("cart-abandoning", "decisive"),
    "weekday_share": ("weekday", "weekend"),
    "rfm_score": ("high-value", "low-value"),
    "onboarding_completed": ("onboarded", "not-onboarded"),
    "searches_90d": ("searching", "non-searching"),
    "product_views_90d": ("browsing", "non-browsing"),
    "browse_depth_90d": ("deep-browsing", "shallow-browsing"),
    "feature_uses_90d": ("power-user", "light-user"),
    "email_clicks_90d": ("email-clicking", "email-ignoring"),
    "email_click_rate_90d": ("email-clicking", "email-ignoring"),
    "avg_days_between_sessions_90d": ("occasional", "habitual"),
    "sentiment_score": ("positive", "critical"),
    "text_count": ("vocal", "silent"),
    "is_b2b": ("business", "consumer"),
}
# Share-like column families: prefix -> (word above average, word below) around the column's topic.
PREFIX_WORDS: dict[str, tuple[str, str]] = {
    "affinity_": ("{}-loving", "{}-averse"),
    "interest_": ("{}-interested", "not-{}"),
    "device_share_": ("{}-first", "rarely-{}"),
    "channel_share_": ("{}-first", "rarely-{}"),
    "daypart_share_": ("{}-active", "rarely-{}"),
}


def numeric_feature_columns(features: DataFrame) -> list[str]:
    """Every numeric column of a feature table except its keys, in table order."""
    return [f.name for f in features.schema.fields if isinstance(f.dataType, NumericType) and f.name not in KEY_COLUMNS]


@dataclass(frozen=True)
class SegmentStats:
    """Small aggregates of one grouping of subjects: sizes, member means, population mean and std (k x d)."""

    sizes: dict[int, int]
    centroids: dict[int, dict[str, float | None]]
    population_mean: dict[str, float | None]
    population_std: dict[str, float | None]

    @property
    def total(self) -> int:
        return sum(self.sizes.values())

    def z_scores(self, group: int) -> dict[str, float]:
        return standardise(self.centroids[group], self.population_mean, self.population_std)


def standardise(
    centroid: Mapping[str, float | None], mean: Mapping[str, float | None], std: Mapping[str, float | None]
) -> dict[str, float]:
    """Centroid -> z-scores against the population; a constant or all-null feature scores 0."""
    out = {}
    for name, value in centroid.items():
        m, s = mean.get(name), std.get(name)
        z = (value - m) / s if value is not None and m is not None and s else 0.0
        out[name] = round(z, Z_DECIMALS)
    return out


def segment_stats(
    assigned: DataFrame, features: DataFrame, group_col: str, feature_cols: Sequence[str]
) -> SegmentStats:
    """Sizes and member means per ``group_col`` value plus population mean/std, in one Spark pass.

    ``assigned`` holds subject_id and an integer ``group_col``; ``features`` one row per subject. Means ignore nulls
    (e.g. recency of subjects who never bought), so a centroid describes the members that have the feature.
    """
    joined = assigned.select("subject_id", group_col).join(
        features.select("subject_id", *[F.col(c).cast("double").alias(c) for c in feature_cols]), "subject_id"
    )
    aggs = [F.count(F.lit(1)).alias("__size"), F.grouping(group_col).alias("__population")]
    for i, c in enumerate(feature_cols):
        aggs += [F.avg(c).alias(f"__mean_{i}"), F.stddev_pop(c).alias(f"__std_{i}")]
    rows = joined.rollup(group_col).agg(*aggs).collect()  # k + 1 rows
    sizes, centroids, population_mean, population_std = {}, {}, {}, {}
    for row in rows:
        means = {c: row[f"__mean_{i}"] for i, c in enumerate(feature_cols)}
        if row["__population"]:
            population_mean = means
            population_std = {c: row[f"__std_{i}"] for i, c in enumerate(feature_cols)}
        else:
            sizes[int(row[group_col])] = int(row["__size"])
            centroids[int(row[group_col])] = means
    return SegmentStats(sizes, centroids, population_mean, population_std)


def ranked_features(z_scores: Mapping[str, float]) -> list[str]:
    """Features by distinctiveness: largest |z| first, ties by name (deterministic)."""
    return sorted(z_scores, key=lambda name: (-round(abs(z_scores[name]), Z_DECIMALS), name))


def feature_word(feature: str, z: float) -> str:
    for prefix, (high, low) in PREFIX_WORDS.items():
        if feature.startswith(prefix) and feature not in FEATURE_WORDS:
            topic = feature.removeprefix(prefix).replace("_", "-")
            return (high if z >= 0 else low).format(topic)
    high, low = FEATURE_WORDS.get(feature, (f"high-{feature}", f"low-{feature}"))
    return high if z >= 0 else low


def _candidate_words(z_scores: Mapping[str, float]) -> list[str]:
    words: list[str] = []
    for name in ranked_features(z_scores):
        if abs(z_scores[name]) < DISTINCTIVE_Z:
            break
        word = feature_word(name, z_scores[name])
        if word not in words:
            words.append(word)
    return words


def persona_names(
    z_by_group: Mapping[int, Mapping[str, float]],
    order: Iterable[int],
    reserved: Iterable[str] = (),
    words: int = 2,
) -> dict[int, str]:
    """group -> name from its most distinctive features, unique among themselves and against ``reserved``.

    Groups are named in ``order`` (callers pass largest first, so the biggest segment gets the plainest name). Two
    groups whose words coincide (in any order) get their next most distinctive word added; a numeric suffix is the
    last resort. A group with nothing distinctive is "average".
    """
    taken_names = set(reserved)
    taken_sets = {frozenset(name.split(", ")) for name in taken_names}
    names: dict[int, str] = {}
    for group in order:
        candidates = _candidate_words(z_by_group[group]) or ["average"]
        n = min(words, len(candidates))
        chosen = candidates[:n]
        while frozenset(chosen) in taken_sets and n < len(candidates):
            n += 1
            chosen = candidates[:n]
        name, suffix = ", ".join(chosen), 2
        while name in taken_names or frozenset(name.split(", ")) in taken_sets:
            name = f"{', '.join(chosen)} ({suffix})"
            suffix += 1
        taken_names.add(name)
        taken_sets.add(frozenset(name.split(", ")))
        names[group] = name
    return names


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


@dataclass(frozen=True)
class Persona:
    """One published segment described for people: what the profile table and the persona card hold."""

    segment_id: str
    segment_name: str
    size: int
    share: float
    centroid: dict[str, float | None]
    z_scores: dict[str, float]
    top_features: list[str]
    is_new: bool = False
    below_min_size: bool = False
    source_clusters: list[int] = field(default_factory=list)

    def description(self, population_mean: Mapping[str, float | None]) -> str:
        """One paragraph: who they are in numbers, against the average subject."""
        head = f"{self.segment_name} ({self.segment_id}): {self.size:,} subjects, {self.share:.1%} of the snapshot."
        if self.below_min_size:
            return head + " Below the minimum segment size: figures withheld, not for activation."
        parts = []
        for name in self.top_features:
            z = self.z_scores[name]
            if abs(z) < DISTINCTIVE_Z:
                continue
            direction = "higher" if z > 0 else "lower"
            parts.append(
                f"{direction} {name} ({_fmt(self.centroid[name])} vs {_fmt(population_mean.get(name))}, z {z:+.1f})"
            )
        body = (
            " Compared with the average subject they have " + "; ".join(parts) + "."
            if parts
            else " No feature sets them apart from the average subject by a quarter of a standard deviation or more."
        )
        flags = []
        if self.is_new:
            flags.append("New in this snapshot.")
        if len(self.source_clusters) > 1:
            flags.append(f"Merged from {len(self.source_clusters)} clusters of the model.")
        return head + body + (" " + " ".join(flags) if flags else "")


def personas_for(
    stats: SegmentStats,
    segment_ids: Mapping[int, str],
    names: Mapping[int, str],
    top_features: int,
    new_groups: Iterable[int] = (),
    small_groups: Iterable[int] = (),
    sources: Mapping[int, list[int]] | None = None,
) -> list[Persona]:
    """The personas of every group in ``stats``, largest first.

    A group below the minimum size keeps only its size: the means of a handful of subjects would disclose them.
    """
    new, small, total = set(new_groups), set(small_groups), stats.total
    out = []
    for group in sorted(stats.sizes, key=lambda g: (-stats.sizes[g], segment_ids[g])):
        z = {} if group in small else stats.z_scores(group)
        out.append(
            Persona(
                segment_id=segment_ids[group],
                segment_name=names[group],
                size=stats.sizes[group],
                share=round(stats.sizes[group] / total, 4) if total else 0.0,
                centroid={} if group in small else dict(stats.centroids[group]),
                z_scores=z,
                top_features=ranked_features(z)[:top_features],
                is_new=group in new,
                below_min_size=group in small,
                source_clusters=sorted((sources or {}).get(group, [group])),
            )
        )
    return out


def persona_card(personas: Sequence[Persona], population_mean: Mapping[str, float | None], title: str) -> str:
    """Markdown persona cards: one section per segment with its description and distinguishing features."""
    lines = [f"# {title}", ""]
    for p in personas:
        lines += [f"## {p.segment_id} · {p.segment_name}", "", p.description(population_mean), ""]
        lines += ["| feature | segment mean | population mean | z |", "|---|---:|---:|---:|"]
        for name in p.top_features:
            lines.append(
                f"| {name} | {_fmt(p.centroid[name])} | {_fmt(population_mean.get(name))} | {p.z_scores[name]:+.2f} |"
            )
        lines.append("")
    return "\n".join(lines)
