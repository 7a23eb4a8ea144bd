"""Config of segment assembly and publication: stable ids, minimum size, personas, the segment classifier."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from seglib.config.base import StrictModel
from seglib.config.registry import GateRule, ModelRegistryConfig


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
    registry: ModelRegistryConfig = Field(
        default_factory=lambda: ModelRegistryConfig(
            champion_gate=[GateRule(metric="accuracy", minimum=0.5, against_champion=False)]
        ),
        description="Registered name (null = <mlflow.registered_model_prefix>_segment_classifier) and gate: a "
        "version failing it is not used (every sparse subject gets the fallback segment). Retrained every snapshot "
        "on that snapshot's segments, so it is judged by its holdout alone, not against the previous version.",
    )
    MOVED_KEYS: ClassVar[dict[str, str]] = {
        "model_name": "segments.classifier.model_name moved to segments.classifier.registry.model_name",
        "min_holdout_accuracy": "segments.classifier.min_holdout_accuracy moved to "
        "segments.classifier.registry.champion_gate (metric: accuracy, minimum)",
    }


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
    MOVED_KEYS: ClassVar[dict[str, str]] = {
        "model_name": "segments.model_name moved to clustering.registry.model_name",
        "champion_gate": "segments.champion_gate moved to clustering.registry.champion_gate",
    }
