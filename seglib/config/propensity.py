"""Config of the propensity models (conf/propensity.yaml): targets as label windows after a snapshot's cut-off, the
snapshots a model trains and is held out on, the models, the validation grid and the score tiers."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from seglib.config.base import StrictModel
from seglib.config.registry import GateRule, ModelRegistryConfig

# Behaviour before the cut-off that says something about the weeks after it (RFM, activity, trend, engagement).
DEFAULT_PROPENSITY_FEATURES = [
    "recency_days",
    "frequency_30d",
    "frequency_90d",
    "frequency_365d",
    "monetary_90d",
    "monetary_365d",
    "aov_365d",
    "tenure_days",
    "monetary_30d",
    "sessions_90d",
    "events_90d",
    "page_views_90d",
    "avg_days_between_sessions_90d",
    "engagement_trend",
    "engagement_index",
    "email_open_rate_90d",
    "email_click_rate_90d",
    "cart_abandonment_rate_90d",
    "browse_depth_90d",
    "searches_per_session_90d",
    "support_tickets_90d",
    "feature_uses_per_week_90d",
    "device_share_mobile",
    "channel_share_email",
    "text_count",
    "sentiment_score",
    "plan_tier",
    # buy-till-you-die quantities as of the cut-off (features.btyd): the classic purchase ranking, as inputs
    "btyd_p_alive",
    "btyd_expected_purchases",
    "recency_gap_ratio",
]


class TargetConfig(StrictModel):
    kind: Literal["purchase", "churn", "upgrade"] = Field(
        description="purchase: a completed order in the label window. churn: a subject active in the "
        "activity_days before the cut-off with no event and no order in the label window. upgrade: a subject below "
        "the top plan at the cut-off (CRM history) moves to a higher plan (features.demographics.plan_order) in the "
        "label window."
    )
    window_days: int = Field(30, ge=1, description="Label window [cut-off, cut-off + window_days).")
    enabled: bool = Field(
        True, description="false: the target is neither trained nor scored (a config overlay cannot remove a target)."
    )
    required: bool = Field(
        False,
        description="true: a run fails (exit 2) when this target cannot be trained on the data, instead of "
        "publishing the other families without it (exit 3).",
    )


class GbtGrid(StrictModel):
    """The GBT's grid: each combination is fitted once on the training cut-offs before the latest and judged on
    the latest (with one training cut-off: num_folds-fold cross-validation); a one-combination grid is just fitted."""

    max_depth: list[int] = Field(default_factory=lambda: [3, 5])
    max_iter: list[int] = Field(default_factory=lambda: [20])
    step_size: list[float] = Field(default_factory=lambda: [0.1])
    min_instances_per_node: list[int] = Field(
        default_factory=lambda: [1], description="Fewest training rows in a leaf (larger: smoother trees)."
    )
    subsampling_rate: list[float] = Field(
        default_factory=lambda: [1.0], description="Share of the rows each tree is fitted on (stochastic boosting)."
    )

    @model_validator(mode="after")
    def _check(self) -> GbtGrid:
        empty = [k for k, v in self.model_dump().items() if not v]
        if empty:
            raise ValueError(f"propensity.grid lists must not be empty: {empty}")
        if any(not 0 < r <= 1 for r in self.subsampling_rate) or any(n < 1 for n in self.min_instances_per_node):
            raise ValueError("propensity.grid: subsampling_rate in (0, 1], min_instances_per_node >= 1")
        return self


class PropensityConfig(StrictModel):
    enabled: bool = True
    targets: dict[str, TargetConfig] = Field(
        default_factory=lambda: {
            "purchase": TargetConfig(kind="purchase", window_days=30),
            "churn": TargetConfig(kind="churn", window_days=30),
            "upgrade": TargetConfig(kind="upgrade", window_days=30),
        }
    )
    activity_days: int = Field(90, ge=1, description="churn: who counts as active before the cut-off.")
    training_snapshots: int = Field(3, ge=1, description="Labelled cut-offs the model trains on.")
    snapshot_step_days: int = Field(30, ge=1, description="Days between consecutive training cut-offs.")
    features: list[str] = Field(default_factory=lambda: list(DEFAULT_PROPENSITY_FEATURES))
    grid: GbtGrid = Field(default_factory=GbtGrid)
    num_folds: int = Field(
        3, ge=2, description="Folds of the cross-validation that chooses the grid setting with one training cut-off."
    )
    parallelism: int = Field(
        2,
        ge=1,
        description="Targets trained at a time, and grid settings fitted at a time within each (the machine's cores).",
    )
    seed: int = 13
    class_weights: Literal["balanced", "none"] = Field(
        "balanced", description="balanced: each class weighs half of the training set (rare positives count more)."
    )
    tier_quantiles: dict[str, float] = Field(
        default_factory=lambda: {"high": 0.9, "medium": 0.6},
        description="Tier -> score quantile of the scored snapshot its members exceed; the rest: 'low'.",
    )
    min_positives: int = Field(20, ge=1, description="Fewer positives in training or holdout: the target fails.")
    check_leakage: bool = Field(
        True, description="Rebuild the latest training cut-off's features from facts truncated at it; any change fails."
    )
    registry: ModelRegistryConfig = Field(
        default_factory=lambda: ModelRegistryConfig(
            champion_gate=[GateRule(metric="roc_auc", tolerance=0.01, minimum=0.6)]
        ),
        description="Registered name (null = <mlflow.registered_model_prefix>_propensity; the target is appended) "
        "and the holdout metrics a new version must reach against the target's champion to take its alias.",
    )
    MOVED_KEYS: ClassVar[dict[str, str]] = {
        "champion_gate": "propensity.champion_gate moved to propensity.registry.champion_gate"
    }

    @model_validator(mode="after")
    def _check(self) -> PropensityConfig:
        bad = [q for q in self.tier_quantiles.values() if not 0 < q < 1]
        if bad:
            raise ValueError(f"propensity.tier_quantiles must be in (0, 1): {bad}")
        if "low" in self.tier_quantiles:
            raise ValueError("propensity.tier_quantiles: 'low' is the tier below every threshold; do not set it")
        bad_names = [n for n in self.targets if not n.isidentifier() or n != n.lower()]
        if bad_names:
            raise ValueError(f"propensity.targets names must be lower-case identifiers: {bad_names}")
        return self
