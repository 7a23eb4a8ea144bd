"""Config of clustering: the feature space (saved inside the fitted model) and the selection of k."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from seglib.config.base import StrictModel
from seglib.config.registry import GateRule, ModelRegistryConfig

# One column per behavioural concept (activity, spend, recency, tenure, event mix, timing, device, channel,
# category affinity, texts): near-duplicates (rfm scores, 30/90/365-day variants of the same count) would weigh their
# concept several times in Euclidean distances.
DEFAULT_FEATURES = [
    "recency_days",
    "frequency_365d",
    "monetary_365d",
    "aov_365d",
    "tenure_days",
    "sessions_90d",
    "events_90d",
    "searches_per_session_90d",
    "browse_depth_90d",
    "support_tickets_90d",
    "feature_uses_per_week_90d",
    "device_share_desktop",
    "device_share_mobile",
    "channel_share_web",
    "channel_share_app",
    "channel_share_email",
    "channel_share_social",
    "daypart_share_night",
    "daypart_share_morning",
    "daypart_share_afternoon",
    "daypart_share_evening",
    "weekday_share",
    "email_open_rate_90d",
    "text_count",
    "sentiment_score",
    "engagement_trend",
    "affinity_electronics",
    "affinity_fashion",
    "affinity_home",
    "affinity_sports",
    "affinity_beauty",
    "affinity_books",
]
DEFAULT_LOG_FEATURES = [
    "recency_days",
    "frequency_365d",
    "monetary_365d",
    "aov_365d",
    "tenure_days",
    "sessions_90d",
    "events_90d",
    "browse_depth_90d",
    "support_tickets_90d",
    "feature_uses_per_week_90d",
    "text_count",
]

# Shares of a subject's events (device, channel, daypart, weekday, category affinity): from a handful of events they
# are extreme (0 or 1) by chance, which splits a sparse segment by noise. Smoothed towards the population's share.
# Affinities are shares of the categorised part of the 90-day events: counting all of them smooths those a little less.
SHARE_PREFIXES = ("device_share_", "channel_share_", "daypart_share_", "weekday_share", "affinity_")
DEFAULT_SMOOTHED_SHARES = {"events_90d": [f for f in DEFAULT_FEATURES if f.startswith(SHARE_PREFIXES)]}


class ClusteringConfig(StrictModel):
    algorithm: Literal["kmeans", "bisecting_kmeans", "gmm"] = "kmeans"
    required: bool = Field(
        False,
        description="true: a run fails (exit 2) when the clustering cannot be fitted on the data, instead of "
        "publishing the other families without the cluster family (exit 3).",
    )
    registry: ModelRegistryConfig = Field(
        default_factory=lambda: ModelRegistryConfig(champion_gate=[GateRule(metric="silhouette", tolerance=0.02)]),
        description="Registered name (null = <mlflow.registered_model_prefix>_clustering) and the gate a new version "
        "must pass against the champion (metrics: silhouette, stability) to publish; else the champion publishes.",
    )
    k_min: int = Field(2, ge=2)
    k_max: int = Field(10, ge=2)
    seed: int = 7
    max_iter: int = Field(50, ge=1)
    # Feature space (fitted once, saved as stages of the model)
    features: list[str] = Field(default_factory=lambda: list(DEFAULT_FEATURES), description="Numeric features.")
    categorical_features: list[str] = Field(
        default_factory=lambda: ["plan"],
        description="One-hot encoded; a missing value is a level of its own (e.g. visitors without a CRM plan).",
    )
    log_features: list[str] = Field(
        default_factory=lambda: list(DEFAULT_LOG_FEATURES),
        description="Heavy-tailed, non-negative features compressed with log1p before scaling.",
    )
    smoothed_shares: dict[str, list[str]] = Field(
        default_factory=lambda: {c: list(v) for c, v in DEFAULT_SMOOTHED_SHARES.items()},
        description="Count column -> share features computed over (at most) that many events: each share becomes "
        "(count * share + share_pseudo_count * population share) / (count + share_pseudo_count); a subject without "
        "events gets the population share.",
    )
    share_pseudo_count: float = Field(
        1.0, ge=0, description="Pseudo-events at the population share added to every subject's (0 = no smoothing)."
    )
    scaler: Literal["standard", "robust"] = Field(
        "standard", description="Divide by the standard deviation, or by the interquartile range (robust)."
    )
    feature_weights: dict[str, float] = Field(
        default_factory=dict, description="Feature -> multiplier after scaling (default 1); one-hot levels share it."
    )
    pca_components: int | None = Field(None, ge=1, description="If set, cluster on this many principal components.")
    # Selection of k (seglib.modeling.selection.SegmentSelector)
    criterion: Literal["auto", "bic", "stability", "silhouette"] = Field(
        "auto", description="auto = bic for gmm, else stability."
    )
    seeds_per_k: int = Field(6, ge=1, description="Fits per k with different seeds; the best (lowest cost) is kept.")
    sample_size: int = Field(20000, ge=10, description="Rows (approximately) the k grid is fitted on.")
    stability_resamples: int = Field(
        3,
        ge=2,
        description="Fits on random subsamples per k for the stability score (for every k only when it is the "
        "criterion; otherwise for the chosen k alone).",
    )
    stability_fraction: float = Field(0.8, gt=0, lt=1, description="Share of the sample in each stability fit.")
    stability_threshold: float = Field(
        0.9, gt=0, le=1, description="stability criterion: the largest k whose stability reaches this wins."
    )
    silhouette_tolerance_se: float = Field(
        0.0,
        ge=0,
        description="silhouette criterion: the smallest k within this many standard errors of the best silhouette "
        "wins (one-standard-error rule; 0 = the highest silhouette).",
    )
    silhouette_sample_size: int = Field(5000, ge=10, description="Rows the silhouette of each k is computed on.")
    selection_min_eigenvalue: float = Field(
        1.5,
        ge=0,
        description="> 0: k is chosen on the principal components whose covariance eigenvalue exceeds this (at "
        "least 2), then fitted in the full space (k-means: refined from the chosen partition's means); 0: k is "
        "chosen in the full space.",
    )
    parallelism: int = Field(
        4, ge=1, description="Fits (one per k and seed) run concurrently (Spark jobs from driver threads)."
    )
    min_cluster_share: float = Field(
        0.05,
        ge=0,
        lt=1,
        description="A k leaving a cluster below this share of the sample is not chosen (a segment that small is "
        "rarely worth a campaign, and is often a handful of odd rows split off).",
    )

    @model_validator(mode="after")
    def _check(self) -> ClusteringConfig:
        if self.k_max < self.k_min:
            raise ValueError(f"clustering.k_max ({self.k_max}) must be >= clustering.k_min ({self.k_min})")
        if self.criterion == "bic" and self.algorithm != "gmm":
            raise ValueError("clustering.criterion=bic needs clustering.algorithm=gmm")
        unknown = sorted(set(self.feature_weights) - set(self.features) - set(self.categorical_features))
        if unknown:
            raise ValueError(f"clustering.feature_weights names unknown features: {unknown}")
        shares = [s for group in self.smoothed_shares.values() for s in group]
        not_features = sorted(set(shares) - set(self.features))
        # The default list names every share seglib computes; a feature list without some of them just skips those.
        if not_features and "smoothed_shares" in self.model_fields_set:
            raise ValueError(f"clustering.smoothed_shares names shares not in clustering.features: {not_features}")
        twice = sorted({s for s in shares if shares.count(s) > 1})
        if twice:
            raise ValueError(f"clustering.smoothed_shares lists shares under two counts: {twice}")
        return self
