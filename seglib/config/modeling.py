"""Config of clustering and propensity modelling."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from seglib.config.base import StrictModel


class ClusteringConfig(StrictModel):
    algorithm: Literal["kmeans", "bisecting_kmeans", "gmm"] = "kmeans"
    k_min: int = Field(3, ge=2)
    k_max: int = Field(8, ge=2)
    seed: int = 7
    max_iter: int = Field(30, ge=1)
    features: list[str] = Field(
        default_factory=lambda: [
            "recency_days",
            "frequency_365d",
            "monetary_365d",
            "aov_365d",
            "sessions_90d",
            "engagement_index",
            "searches_per_session_90d",
            "support_tickets_90d",
            "feature_uses_per_week_90d",
            "cart_abandonment_rate_90d",
            "tenure_days",
            "weekday_share",
        ]
    )
    log_features: list[str] = Field(
        default_factory=lambda: [
            "frequency_365d",
            "monetary_365d",
            "aov_365d",
            "sessions_90d",
            "support_tickets_90d",
            "feature_uses_per_week_90d",
        ],
        description="Heavy-tailed, non-negative features compressed with log1p before scaling.",
    )

    @model_validator(mode="after")
    def _k_range(self) -> ClusteringConfig:
        if self.k_max < self.k_min:
            raise ValueError(f"clustering.k_max ({self.k_max}) must be >= clustering.k_min ({self.k_min})")
        return self
