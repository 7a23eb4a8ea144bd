"""Config of the feature stage: one section per feature group (model preparation: seglib.config.modeling)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from seglib.config.base import StrictModel

DEFAULT_INTERESTS: dict[str, list[str]] = {
    "sports": ["sport", "sports", "running", "football", "fitness", "gym", "yoga", "cycling", "tennis"],
    "technology": ["tech", "software", "gadget", "laptop", "smartphone", "app", "ai", "machine learning"],
    "travel": ["travel", "trip", "flight", "hotel", "vacation", "holiday", "beach", "tour"],
    "fashion": ["fashion", "style", "dress", "shoes", "clothing", "outfit", "jacket", "brand"],
    "food": ["food", "cooking", "recipe", "restaurant", "coffee", "wine", "kitchen", "organic"],
    "finance": ["finance", "investing", "money", "budget", "savings", "price", "discount", "deal"],
    "home": ["home", "garden", "furniture", "decor", "diy", "interior"],
    "family": ["family", "kids", "children", "baby", "parent", "school"],
}
DEFAULT_POSITIVE_WORDS: list[str] = [
    "good", "great", "excellent", "love", "loved", "amazing", "happy", "perfect", "fast", "helpful",
    "easy", "recommend", "best", "nice", "awesome", "satisfied", "fantastic", "friendly",
]  # fmt: skip
DEFAULT_NEGATIVE_WORDS: list[str] = [
    "bad", "terrible", "awful", "hate", "hated", "poor", "slow", "broken", "worst", "disappointed",
    "refund", "problem", "issue", "angry", "useless", "late", "difficult", "never",
]  # fmt: skip


class RfmConfig(StrictModel):
    enabled: bool = True
    score_bins: int = Field(5, ge=2, le=9, description="Quantile bins per R/F/M score (one digit each in rfm_cell).")
    quantile_relative_error: float = Field(0.001, ge=0, le=1, description="approxQuantile relative error.")
    recency_weight: float = Field(1.0, ge=0)
    frequency_weight: float = Field(1.0, ge=0)
    monetary_weight: float = Field(1.0, ge=0)


class EngagementConfig(StrictModel):
    enabled: bool = True
    categories: list[str] = Field(
        default_factory=lambda: ["electronics", "fashion", "home", "sports", "beauty", "books"],
        description="content_category values that get an affinity_<category> share column.",
    )
    index_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "sessions_90d": 0.3,
            "events_90d": 0.2,
            "page_views_90d": 0.1,
            "email_click_rate_90d": 0.2,
            "frequency_90d": 0.2,
        },
        description="Feature column -> weight of engagement_index (inputs scaled to [0,1] first).",
    )
    index_normalisation_quantile: float = Field(
        0.95, gt=0, le=1, description="Inputs are divided by this population quantile and capped at 1."
    )


class BehaviourConfig(StrictModel):
    enabled: bool = True
    cart_window_hours: int = Field(24, ge=1, description="A cart/checkout without purchase within this is abandoned.")
    onboarding_window_days: int = Field(14, ge=1, description="Signup must be followed by activation within this.")


class ContextConfig(StrictModel):
    enabled: bool = True
    devices: list[str] = Field(default_factory=lambda: ["desktop", "mobile", "tablet"])
    channels: list[str] = Field(default_factory=lambda: ["web", "app", "email", "social"])


class DemographicsConfig(StrictModel):
    enabled: bool = True
    plan_order: list[str] = Field(
        default_factory=lambda: ["free", "basic", "premium", "enterprise"],
        min_length=2,
        description="CRM plans from lowest to highest: the plan_tier feature and the upgrade propensity target.",
    )

    @model_validator(mode="after")
    def _distinct_plans(self) -> DemographicsConfig:
        if len(set(self.plan_order)) != len(self.plan_order):
            raise ValueError(f"features.demographics.plan_order repeats a plan: {self.plan_order}")
        return self


class LifetimeConfig(StrictModel):
    enabled: bool = True
    clv_bracket_edges: list[float] = Field(
        default_factory=lambda: [0.0, 100.0, 500.0, 2000.0],
        description="Upper bounds (inclusive) of every bracket but the last; ascending.",
    )
    clv_bracket_labels: list[str] = Field(default_factory=lambda: ["none", "low", "medium", "high", "top"])

    @model_validator(mode="after")
    def _brackets(self) -> LifetimeConfig:
        if len(self.clv_bracket_labels) != len(self.clv_bracket_edges) + 1:
            raise ValueError("features.lifetime.clv_bracket_labels needs exactly one more entry than the edges")
        if sorted(self.clv_bracket_edges) != self.clv_bracket_edges:
            raise ValueError("features.lifetime.clv_bracket_edges must be ascending")
        return self


class SentimentLexicon(StrictModel):
    positive: list[str] = Field(default_factory=lambda: list(DEFAULT_POSITIVE_WORDS))
    negative: list[str] = Field(default_factory=lambda: list(DEFAULT_NEGATIVE_WORDS))


class LdaConfig(StrictModel):
    enabled: bool = False
    k: int = Field(5, ge=2)
    max_iter: int = Field(20, ge=1)
    vocab_size: int = Field(2000, ge=10)
    seed: int = 11


class PsychographicsConfig(StrictModel):
    enabled: bool = True
    engine: Literal["auto", "sparknlp", "builtin"] = Field(
        "auto", description="auto = Spark NLP when its JVM classes load, else Spark ML built-ins."
    )
    interests: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_INTERESTS.items()},
        description="Interest name -> lower-case words or two-word phrases (conf/interests.yaml).",
    )
    sentiment_lexicon: SentimentLexicon = Field(default_factory=SentimentLexicon)
    extra_stop_words: list[str] = Field(default_factory=list)
    min_token_length: int = Field(2, ge=1)
    lda: LdaConfig = Field(default_factory=LdaConfig)

    @model_validator(mode="after")
    def _names(self) -> PsychographicsConfig:
        bad = [n for n in self.interests if not n.isidentifier() or n != n.lower()]
        if bad:
            raise ValueError(f"features.psychographics.interests names must be lower-case identifiers: {bad}")
        return self


class BtydConfig(StrictModel):
    """Buy-till-you-die features (seglib/features/btyd.py): a BG/NBD fit per feature build on the completed orders
    before its cut-off, and each buyer's probability alive and expected purchases from it."""

    enabled: bool = True
    period: Literal["day", "week"] = Field("week", description="Purchase period of the BG/NBD summary (clv.period).")
    horizon_days: int = Field(
        30, ge=1, description="btyd_expected_purchases counts purchase periods in the days after the cut-off."
    )
    min_buyers: int = Field(
        20, ge=1, description="Fewer consenting buyers before the cut-off: no fit, the BTYD columns are null."
    )
    max_summary_rows: int = Field(
        1_000_000, ge=1, description="More distinct (x, t_x, T) rows than this: no fit, the BTYD columns are null."
    )


class FeaturesConfig(StrictModel):
    lookback_days: int = Field(365, ge=1, description="Events older than this before the snapshot are not read.")
    rfm: RfmConfig = Field(default_factory=RfmConfig)
    engagement: EngagementConfig = Field(default_factory=EngagementConfig)
    behaviour: BehaviourConfig = Field(default_factory=BehaviourConfig)
    context: ContextConfig = Field(default_factory=ContextConfig)
    demographics: DemographicsConfig = Field(default_factory=DemographicsConfig)
    lifetime: LifetimeConfig = Field(default_factory=LifetimeConfig)
    psychographics: PsychographicsConfig = Field(default_factory=PsychographicsConfig)
    btyd: BtydConfig = Field(default_factory=BtydConfig)
