"""Config of segment assembly and publication: stable ids, minimum size, personas, and the champion gate."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from seglib.config.base import StrictModel

# One MLflow workspace name, or a Unity Catalog three-level name (catalog.schema.model).
_MODEL_NAME = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)?$")


class GateRule(StrictModel):
    """A challenger may not be worse than the current champion on ``metric`` by more than ``tolerance``."""

    metric: str = Field(description="A metric the clustering run reports, e.g. silhouette or stability.")
    higher_is_better: bool = True
    tolerance: float = Field(0.0, ge=0, description="Absolute slack allowed against the champion's value.")
    minimum: float | None = Field(None, description="Optional absolute floor (ceiling if lower is better).")


class ClassifierConfig(StrictModel):
    """The segment classifier: subjects with too little data for the clustering (``segments.sparse_when``) get the
    cluster segment a classifier trained on the clustered subjects predicts, or the fallback segment."""

    enabled: bool = Field(True, description="false: sparse subjects go straight to the fallback segment.")
    features: list[str] | None = Field(
        None,
        description="Numeric features the classifier reads; null = the clustering's features (clustering.features).",
    )
    num_trees: int = Field(50, ge=1, description="Random forest size.")
    max_depth: int = Field(6, ge=1, le=30, description="Depth of each tree.")
    holdout_fraction: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="Share of the clustered subjects held out (by a hash of the pseudonym) to judge it.",
    )
    seed: int = Field(11, description="Seed of the forest's bootstrap and feature sampling.")
    confidence_threshold: float = Field(
        0.5,
        ge=0,
        le=1,
        description="A sparse subject whose top class probability is below this gets the fallback segment.",
    )
    min_holdout_accuracy: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Below this holdout accuracy the classifier is not used (every sparse subject gets the fallback).",
    )
    model_name: str | None = Field(
        None, description="Registered name; null = <mlflow.registered_model_prefix>_segment_classifier."
    )


class SegmentsConfig(StrictModel):
    min_segment_size: int = Field(1, ge=1, description="k-anonymity floor for published segments (subjects).")
    min_segment_share: float = Field(
        0.0, ge=0, lt=1, description="Share of the snapshot below which a cluster counts as too small."
    )
    small_segment_policy: Literal["merge", "flag"] = Field(
        "merge",
        description="merge: fold a too-small cluster into its nearest neighbour (centroid distance in standardised "
        "feature space); flag: publish it marked below_min_size.",
    )
    id_match_min_jaccard: float = Field(
        0.2,
        gt=0,
        le=1,
        description="A cluster inherits a previous segment's id and name only if their members overlap at least "
        "this much (Jaccard); otherwise it is a new segment.",
    )
    id_match_max_distance: float = Field(
        1.0,
        gt=0,
        description="Fallback when no subject is in both snapshots (e.g. after a pseudonym key rotation): match "
        "segments whose standardised centroids are at most this far apart.",
    )
    sparse_when: str | None = Field(
        "tenure_days < 14 and events_90d < 3",
        description="Rule expression (grammar of conf/segments.yaml) selecting subjects with too little data for the "
        "clustering: they are left out of the fit and assigned by the classifier; null = cluster everyone.",
    )
    fallback_segment_id: str = Field("S000", description="Cluster segment id of sparse subjects nobody can place.")
    fallback_segment_name: str = Field("Not enough data yet", description="Its name.")
    classifier: ClassifierConfig = Field(default_factory=ClassifierConfig)
    kpi_window_days: int = Field(
        30, ge=1, le=366, description="Segment profiles: KPIs over the members' events and orders of the last N days."
    )
    top_items: int = Field(5, ge=1, description="Segment profiles: content categories and products listed by lift.")
    min_item_events: int = Field(
        5,
        ge=1,
        description="Segment profiles: a category or product needs this many of the segment's events to be listed.",
    )
    profile_features: list[str] | None = Field(
        None, description="Features described in segment profiles; null = every numeric feature column."
    )
    profile_top_features: int = Field(3, ge=1, description="Distinguishing features listed per persona.")
    model_name: str | None = Field(
        None,
        description="Registered name of the clustering model; null = <mlflow.registered_model_prefix>_clustering. "
        "A Unity Catalog name (catalog.schema.model) is allowed.",
    )
    champion_gate: list[GateRule] = Field(
        default_factory=lambda: [GateRule(metric="silhouette", tolerance=0.02)],
        description="All rules must pass for a new model version to become champion; else it is the challenger.",
    )

    @field_validator("model_name")
    @classmethod
    def _model_name(cls, value: str | None) -> str | None:
        if value is not None and not _MODEL_NAME.match(value):
            raise ValueError(f"segments.model_name {value!r}: expected 'name' or 'catalog.schema.name'")
        return value
