"""Segment assignment: one snapshot's rule segments, cluster segment, propensity tiers and CLV bracket per subject, as
long-format membership rows (one per subject, segment family and segment) with the k-anonymity flag and lineage,
plus every segment's definition.

Inputs are the published model outputs of the snapshot (models/cluster_assignments, models/propensity_scores,
models/clv_predictions) and the feature table; rules see the features plus ``propensity_<target>``,
``predicted_clv`` and ``predicted_clv_bracket`` (conf/segments.yaml). Writing is in seglib/segments/history.py.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from seglib.config import SeglibConfig
from seglib.segments.profiles import meets_floor
from seglib.segments.rules import FAMILY_COLUMN_PREFIX, RuleValidationError, assign_rule_segments
from seglib.tables import CLUSTER_FAMILY, CLV_FAMILY, PROPENSITY_PREFIX, propensity_family

# Config sections whose values decide the published segments: their hash is the rows' config lineage.
CONFIG_SECTIONS = ("features", "clustering", "segments", "propensity", "clv", "rules")
MEMBERSHIP_KEYS = ("subject_id", "segment_family", "segment_id")


@dataclass(frozen=True)
class Lineage:
    """What produced a publication: run, configuration hash, input table versions, model versions."""

    run_id: str
    config_hash: str
    input_versions: dict[str, int]
    model_versions: dict[str, str]

    def columns(self) -> dict[str, Column]:
        def literal_map(values: Mapping[str, object], value_type: str) -> Column:
            if not values:
                return F.create_map().cast(f"map<string,{value_type}>")
            pairs = [F.lit(v) for key in sorted(values) for v in (key, values[key])]
            return F.create_map(*pairs).cast(f"map<string,{value_type}>")

        return {
            "run_id": F.lit(self.run_id),
            "config_hash": F.lit(self.config_hash),
            "input_versions": literal_map(self.input_versions, "bigint"),
            "model_versions": literal_map(self.model_versions, "string"),
        }


def config_hash(cfg: SeglibConfig) -> str:
    """SHA-256 (16 hex) of the sections that decide segments; paths and credentials are not part of it."""
    text = json.dumps(cfg.model_dump(mode="json", include=set(CONFIG_SECTIONS)), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def slug(name: str) -> str:
    """A rule segment's id: its name in lower snake case ('High-value recent buyers' -> high_value_recent_buyers)."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def slug_column(name: Column) -> Column:
    """:func:`slug` as a Spark expression (same result for the names rules can have)."""
    return F.regexp_replace(F.regexp_replace(F.lower(name), "[^a-z0-9]+", "_"), "^_+|_+$", "")


def exclusive_families(cfg: SeglibConfig, targets: list[str]) -> list[str]:
    """Families where a subject is in exactly one segment (transitions are tracked for these)."""
    rule_families = [f for f, fam in cfg.rules.families.items() if fam.exclusive]
    return [CLUSTER_FAMILY, *rule_families, *[propensity_family(t) for t in targets], CLV_FAMILY]


def check_family_names(cfg: SeglibConfig, targets: list[str]) -> None:
    """Rule families share the segment_family namespace with the model families."""
    reserved = {CLUSTER_FAMILY, CLV_FAMILY, *[propensity_family(t) for t in targets]}
    clash = sorted(set(cfg.rules.families) & reserved)
    if clash:
        raise RuleValidationError(
            [f"rules.families {clash}: these names are taken by model segment families {sorted(reserved)}"]
        )
    for fname, family in cfg.rules.families.items():  # a rule's segment_id is its name's slug: one per segment
        names = [r.name for r in family.rules] + ([family.fallback] if family.fallback else [])
        ids: dict[str, str] = {}
        for name in names:
            sid = slug(name)
            if not sid:
                raise RuleValidationError([f"{fname}/{name}: the segment name has no letter or digit for an id"])
            if ids.setdefault(sid, name) != name:
                raise RuleValidationError([f"{fname}/{name}: same segment id {sid!r} as {ids[sid]!r}; rename one"])


# ------------------------------------------------------------------------------------------------ the rule frame
def with_model_outputs(features: DataFrame, scores: DataFrame, clv: DataFrame, targets: list[str]) -> DataFrame:
    """Features + ``propensity_<target>`` (score), ``predicted_clv`` and ``predicted_clv_bracket``: the columns rules
    see. A subject without a score or prediction has nulls there (a comparison on null does not match)."""
    pivoted = (
        scores.groupBy("subject_id")
        .pivot("target", list(targets))  # a copy, typed as pivot's list of literals (list is invariant)
        .agg(F.first("score"))
        .select("subject_id", *[F.col(f"`{t}`").cast("double").alias(propensity_family(t)) for t in targets])
    )
    values = clv.select(
        "subject_id",
        F.col("predicted_clv").cast("double").alias("predicted_clv"),
        F.col("clv_bracket").alias("predicted_clv_bracket"),
    )
    return features.join(pivoted, "subject_id", "left").join(values, "subject_id", "left")


def check_rules(cfg: SeglibConfig, features: DataFrame, targets: list[str]) -> None:
    """Validate the rule set against the schema rules will see (features + model outputs + windows) from the
    tables' metadata alone: a bad rule fails before any row is read. Raises RuleValidationError naming each rule."""
    from seglib.segments.rules import schema_of, validate_rules

    check_family_names(cfg, targets)
    model_columns = {propensity_family(t): "double" for t in targets}
    model_columns |= {"predicted_clv": "double", "predicted_clv_bracket": "string"}
    validate_rules(cfg.rules, schema_of(features) | model_columns)


# ------------------------------------------------------------------------------------------------ long rows
ROW_COLUMNS = (
    "subject_id",
    "segment_family",
    "segment_type",
    "segment_id",
    "segment_name",
    "assignment_source",
    "confidence",
    "score",
)


def _rows(df: DataFrame, **columns: Column) -> DataFrame:
    defaults = {"confidence": F.lit(None), "score": F.lit(None)}
    merged = {**defaults, **columns}
    types = {"confidence": "double", "score": "double"}
    return df.select(
        "subject_id", *[merged[c].cast(types.get(c, "string")).alias(c) for c in ROW_COLUMNS if c != "subject_id"]
    )


def rule_rows(ruled: DataFrame, cfg: SeglibConfig) -> DataFrame | None:
    """One row per subject and exclusive rule family (the fallback is ``rule_fallback``; a null fallback gives no
    row) and one per subject and matching tag of the non-exclusive families."""
    frames = []
    for fname, family in cfg.rules.families.items():
        column = F.col(f"{FAMILY_COLUMN_PREFIX}{fname}")
        if family.exclusive:
            picked = ruled.where(column.isNotNull())
            is_fallback = F.lit(family.fallback is not None) & (column == F.lit(family.fallback))
            source = F.when(is_fallback, "rule_fallback").otherwise("rule")
            frames.append(
                _rows(
                    picked,
                    segment_family=F.lit(fname),
                    segment_type=F.lit("rule"),
                    segment_id=slug_column(column),
                    segment_name=column,
                    assignment_source=source,
                )
            )
        else:
            tags = ruled.select("subject_id", F.explode(column).alias("tag"))
            frames.append(
                _rows(
                    tags,
                    segment_family=F.lit(fname),
                    segment_type=F.lit("tag"),
                    segment_id=slug_column(F.col("tag")),
                    segment_name=F.col("tag"),
                    assignment_source=F.lit("rule"),
                )
            )
    return _union(frames) if frames else None


def cluster_family_rows(clusters: DataFrame) -> DataFrame:
    return _rows(
        clusters,
        segment_family=F.lit(CLUSTER_FAMILY),
        segment_type=F.lit("cluster"),
        segment_id=F.col("segment_id"),
        segment_name=F.col("segment_name"),
        assignment_source=F.col("assignment_source"),
        confidence=F.col("confidence"),
    )


def tier_rows(scores: DataFrame) -> DataFrame:
    return _rows(
        scores,
        segment_family=F.concat(F.lit(PROPENSITY_PREFIX), F.col("target")),
        segment_type=F.lit("propensity_tier"),
        segment_id=F.col("tier"),
        segment_name=F.concat(F.initcap(F.regexp_replace("target", "_", " ")), F.lit(" propensity: "), F.col("tier")),
        assignment_source=F.lit("model"),
        score=F.col("score"),
    )


def bracket_rows(clv: DataFrame) -> DataFrame:
    return _rows(
        clv,
        segment_family=F.lit(CLV_FAMILY),
        segment_type=F.lit("clv_bracket"),
        segment_id=F.col("clv_bracket"),
        segment_name=F.concat(F.lit("Predicted CLV: "), F.col("clv_bracket")),
        assignment_source=F.lit("model"),
        score=F.col("predicted_clv"),
    )


def _union(frames: list[DataFrame]) -> DataFrame:
    """``frames`` (at least one) unioned by column name."""
    out = frames[0]
    for df in frames[1:]:
        out = out.unionByName(df)
    return out


def with_size_flags(rows: DataFrame, min_size: int, min_share: float) -> DataFrame:
    """meets_min_size on every row, from its segment's size and its family's subject count (one row a segment)."""
    sizes = rows.groupBy("segment_family", "segment_id").agg(F.count(F.lit(1)).alias("size"))
    subjects = rows.groupBy("segment_family").agg(F.countDistinct("subject_id").alias("family_subjects"))
    flags = sizes.join(subjects, "segment_family").select(
        "segment_family",
        "segment_id",
        meets_floor(F.col("size"), F.col("family_subjects"), min_size, min_share).alias("meets_min_size"),
    )
    return rows.join(F.broadcast(flags), ["segment_family", "segment_id"])


@dataclass(frozen=True)
class Assignment:
    """One snapshot's membership rows (not yet written) and the rule thresholds it used."""

    rows: DataFrame
    percentiles: dict[str, float | None]


def assign_segments(
    cfg: SeglibConfig,
    as_of: date,
    now: datetime,
    features: DataFrame,
    clusters: DataFrame,
    scores: DataFrame,
    clv: DataFrame,
    events: DataFrame,
    lineage: Lineage,
    targets: list[str],
) -> Assignment:
    """Every family's membership rows of the snapshot, in the declared segment_membership column order.

    ``clusters``, ``scores`` and ``clv`` are the snapshot's rows of the model tables (empty frames when a model did not
    publish: its family is then absent). Rules are validated against the combined schema before any data is read.
    """
    from seglib.tables import table

    check_family_names(cfg, targets)
    frame = with_model_outputs(features, scores, clv, targets)
    families: list[DataFrame] = []
    percentiles: dict[str, float | None] = {}
    if cfg.rules.families:
        ruled, percentiles = assign_rule_segments(frame, cfg.rules, events=events, as_of=as_of)
        rules = rule_rows(ruled, cfg)
        if rules is not None:
            families.append(rules)
    families += [cluster_family_rows(clusters), tier_rows(scores), bracket_rows(clv)]
    rows = with_size_flags(_union(families), cfg.segments.min_segment_size, cfg.segments.min_segment_share)
    constants = {
        "snapshot_date": F.lit(as_of).cast("date"),
        "assigned_at": F.lit(now).cast("timestamp"),
        **lineage.columns(),
    }
    out = table("segments", "segment_membership").conform(rows, constants)
    return Assignment(out, percentiles)


# ------------------------------------------------------------------------------------------------ definitions
_PERCENTILE = re.compile(r"\bp(\d{1,2})\s*\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)")


def resolve_percentiles(when: str, percentiles: Mapping[str, float | None]) -> str:
    """The rule text with each pNN(column) replaced by the value it had in this snapshot."""

    def value(match: re.Match) -> str:
        resolved = percentiles.get(f"p{int(match.group(1))}({match.group(2)})")
        return "null" if resolved is None else f"{resolved:.6g}"

    return _PERCENTILE.sub(value, when)


def definition_hash(family: str, segment_id: str, definition: str, priority: int | None) -> str:
    text = json.dumps([family, segment_id, definition, priority])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _definition(family, stype, sid, name, exclusive, priority, definition, resolved, description) -> tuple:
    digest = definition_hash(family, sid, definition, priority)
    return (family, stype, sid, name, exclusive, priority, definition, resolved, description, digest)


def rule_definitions(cfg: SeglibConfig, percentiles: Mapping[str, float | None]) -> list[tuple]:
    out = []
    for fname, family in cfg.rules.families.items():
        stype = "rule" if family.exclusive else "tag"
        for rule in family.rules:
            resolved = resolve_percentiles(rule.when, percentiles)
            out.append(
                _definition(
                    fname,
                    stype,
                    slug(rule.name),
                    rule.name,
                    family.exclusive,
                    rule.priority,
                    rule.when,
                    resolved,
                    rule.description,
                )
            )
        if family.exclusive and family.fallback is not None:
            text = "no rule of the family matches"
            out.append(
                _definition(
                    fname,
                    "rule",
                    slug(family.fallback),
                    family.fallback,
                    True,
                    None,
                    text,
                    text,
                    f"Fallback of {fname}.",
                )
            )
    return out


def cluster_definitions(cfg: SeglibConfig, profiles: list[dict]) -> list[tuple]:
    """From the snapshot's models/cluster_profiles rows (k of them) and the fallback of the sparse subjects."""
    seg = cfg.segments
    out = []
    for p in sorted(profiles, key=lambda r: r["segment_id"]):
        text = f"cluster segment of {p['model_name']} v{p['model_version']} (clusters {p['source_clusters']})"
        nearest = ", ".join(f"{f} {p['z_scores'][f]:+.2f} sd" for f in (p["top_features"] or []) if f in p["z_scores"])
        out.append(
            _definition(
                CLUSTER_FAMILY,
                "cluster",
                p["segment_id"],
                p["segment_name"],
                True,
                None,
                text,
                f"{text}; distinctive: {nearest}",
                p["description"],
            )
        )
    if seg.sparse_when is not None:
        text = (
            f"too little data to cluster ({seg.sparse_when}) and the segment classifier below "
            f"{seg.classifier.confidence_threshold} confidence (or unusable)"
        )
        out.append(
            _definition(
                CLUSTER_FAMILY,
                "cluster",
                seg.fallback_segment_id,
                seg.fallback_segment_name,
                True,
                None,
                text,
                text,
                "Fallback for new or sparse subjects.",
            )
        )
    return out


def threshold_definitions(ranges: list[dict], cfg: SeglibConfig) -> list[tuple]:
    """Tier and bracket definitions from the snapshot's score range per segment (rows: family, segment_id, name,
    low, high)."""
    out = []
    for r in sorted(ranges, key=lambda r: (r["segment_family"], r["segment_id"])):
        if r["segment_family"] == CLV_FAMILY:
            stype, text = "clv_bracket", f"predicted_clv bracket by the quantiles {cfg.clv.brackets}"
            resolved = f"predicted_clv in [{r['low']:.2f}, {r['high']:.2f}]"
        else:
            stype = "propensity_tier"
            text = f"{r['segment_family']} tier by the score quantiles {cfg.propensity.tier_quantiles}"
            resolved = f"score in [{r['low']:.4f}, {r['high']:.4f}]"
        out.append(
            _definition(r["segment_family"], stype, r["segment_id"], r["segment_name"], True, None, text, resolved, "")
        )
    return out


def score_ranges(rows: DataFrame) -> list[dict]:
    """Per tier or bracket: the lowest and highest score of the snapshot (one row per segment reaches the driver)."""
    scored = rows.where(F.col("segment_type").isin("propensity_tier", "clv_bracket"))
    agg = scored.groupBy("segment_family", "segment_id").agg(
        F.first("segment_name").alias("segment_name"), F.min("score").alias("low"), F.max("score").alias("high")
    )
    return [r.asDict() for r in agg.collect()]


def definitions_frame(spark: SparkSession, rows: list[tuple], as_of: date, lineage: Lineage) -> DataFrame:
    from seglib.tables import table

    declared = table("segments", "segment_definitions")
    built = ("segment_family", "segment_type", "segment_id", "segment_name", "exclusive", "priority", "definition",
             "resolved_definition", "description", "definition_hash")  # fmt: skip
    df = spark.createDataFrame(rows, declared.schema_of(built))
    return declared.conform(df, {"snapshot_date": F.lit(as_of), **lineage.columns()})


# ------------------------------------------------------------------------------------------------ profiles
def profiles_frame(
    measured: DataFrame, rows: DataFrame, definitions: DataFrame, as_of: date, lineage: Lineage
) -> DataFrame:
    """segment_profiles rows: the measured sizes, KPIs and top items per segment (seglib/segments/profiles.py) with
    each segment's type and name (from the membership rows) and description (from its definition)."""
    from seglib.tables import table

    keys = ["segment_family", "segment_id"]
    names = rows.groupBy(*keys).agg(
        F.first("segment_type").alias("segment_type"), F.min("segment_name").alias("segment_name")
    )
    described = definitions.select(*keys, "description")
    constants = {"snapshot_date": F.lit(as_of).cast("date"), **lineage.columns()}
    joined = measured.join(names, keys).join(described, keys, "left")
    return table("segments", "segment_profiles").conform(joined, constants)
