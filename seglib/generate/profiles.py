"""Planted behavioural segments and the small word/name arrays the generator draws from."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pyspark.sql import Column
from pyspark.sql import functions as F

from seglib.config.rules import EVENT_TYPES  # the silver contract's event types, listed once
from seglib.generate.rand import cumulative, lit_array, weighted_index

# Drawn from a segment's mix; login/signup are placed where identification happens.
MIX_TYPES = EVENT_TYPES[:10]
CHANNELS = ("web", "app", "email", "social")
DEVICES = ("desktop", "mobile", "tablet")
CATEGORIES = (
    "electronics",
    "fashion",
    "home",
    "beauty",
    "sports",
    "books",
    "grocery",
    "toys",
    "software",
    "services",
)
# (country, currency, calling code, weight)
COUNTRIES = (
    ("US", "USD", 1, 0.34),
    ("GB", "GBP", 44, 0.12),
    ("DE", "EUR", 49, 0.15),
    ("FR", "EUR", 33, 0.10),
    ("NL", "EUR", 31, 0.05),
    ("ES", "EUR", 34, 0.06),
    ("IT", "EUR", 39, 0.05),
    ("CA", "CAD", 1, 0.06),
    ("AU", "AUD", 61, 0.04),
    ("SE", "SEK", 46, 0.03),
)
FIRST_NAMES = (
    "anna",
    "ben",
    "carla",
    "david",
    "elena",
    "felix",
    "grace",
    "hugo",
    "ines",
    "jonas",
    "karin",
    "liam",
    "maria",
    "noah",
    "olivia",
    "paul",
    "quinn",
    "rosa",
    "sam",
    "tara",
)
LAST_NAMES = (
    "smith",
    "muller",
    "garcia",
    "rossi",
    "martin",
    "jansen",
    "berg",
    "brown",
    "dubois",
    "lopez",
    "weber",
    "taylor",
    "moreau",
    "silva",
    "novak",
    "kim",
    "wilson",
    "fischer",
    "costa",
    "evans",
)
GENDERS = ("female", "male", "nonbinary")
INCOME_BANDS = ("low", "lower_middle", "upper_middle", "high")
PLANS = ("free", "basic", "premium", "enterprise")
COMPANY_WORDS = ("acme", "globex", "initech", "umbrella", "hooli", "vandelay", "stark", "wayne", "tyrell", "soylent")
COMPANY_SUFFIXES = ("Inc", "Ltd", "GmbH", "SA", "BV", "AB")
INDUSTRIES = ("software", "finance", "retail", "manufacturing", "healthcare", "logistics", "media", "education")
JOB_TITLES = (
    "data engineer",
    "analyst",
    "cto",
    "product manager",
    "it administrator",
    "marketing lead",
    "developer",
    "operations manager",
)
FEATURES = ("api", "dashboard", "export", "integration", "sso", "reports", "alerts", "admin_console")
PROMO_CODES = ("SAVE10", "SALE20", "WELCOME5", "FLASH30", "BOGO")
FILLER_WORDS = (
    "the",
    "product",
    "order",
    "was",
    "and",
    "it",
    "really",
    "i",
    "my",
    "this",
    "service",
    "with",
    "again",
    "today",
    "would",
    "think",
    "about",
    "time",
    "shop",
    "item",
)
POSITIVE_WORDS = ("great", "love", "excellent", "happy", "recommend", "perfect", "amazing", "thanks")
NEGATIVE_WORDS = ("terrible", "awful", "broken", "disappointed", "worst", "angry", "useless", "never")
NEUTRAL_WORDS = ("okay", "fine", "average", "maybe", "usual", "normal")
TEXT_SOURCES = ("survey", "support_ticket", "review")
CONSENT_PURPOSES = ("analytics", "personalization", "marketing_email")
UNKNOWN_EVENT_TYPES = ("pageview", "click_x", "UNKNOWN", "purchase ", "app_crash")
BAD_CURRENCIES = ("usd", "EURO", "$", "eur", "US Dollar")


@dataclass(frozen=True)
class Profile:
    """How one planted segment behaves; every field becomes a per-segment lookup column."""

    name: str
    share: float  # of known customers
    activity: float  # relative events per subject
    events_per_session: float
    event_mix: Sequence[float]  # over MIX_TYPES
    hour_peak: float
    hour_sd: float
    weekday: Sequence[float]  # Mon..Sun relative session intensity
    spend: tuple[str, float, float]  # ("lognormal", mu, sigma) | ("pareto", xm, alpha)
    channel_mix: Sequence[float]  # over CHANNELS
    device_mix: Sequence[float]  # over DEVICES
    favourite_categories: Sequence[str]
    interest_words: Sequence[str]
    sentiment_words: Sequence[str]
    texts_mean: float
    text_source_mix: Sequence[float]  # over TEXT_SOURCES
    plan_mix: Sequence[float]  # over PLANS
    # Share of customers whose second CRM version moves them one plan up (the upgrade propensity target): engaged
    # segments upgrade, lapsed ones do not.
    upgrade_share: float
    income_mix: Sequence[float]  # over INCOME_BANDS
    age_range: tuple[int, int]
    promo_prob: float
    status_mix: Sequence[float] = (0.92, 0.05, 0.03)  # completed, refunded, cancelled
    marketing_consent: float = 0.6
    search_terms: Sequence[str] = field(default=("shoes", "laptop", "sofa", "jacket", "headphones"))


_WEEKEND = (0.8, 0.75, 0.75, 0.8, 0.9, 1.0, 1.0)
PROFILES: tuple[Profile, ...] = (
    Profile(
        name="high_value_loyal",
        share=0.15,
        activity=1.5,
        events_per_session=6,
        event_mix=(0.20, 0.22, 0.07, 0.12, 0.09, 0.13, 0.09, 0.05, 0.02, 0.01),
        hour_peak=20,
        hour_sd=3,
        weekday=_WEEKEND,
        spend=("lognormal", 5.0, 0.6),
        channel_mix=(0.45, 0.40, 0.10, 0.05),
        device_mix=(0.40, 0.45, 0.15),
        favourite_categories=("electronics", "fashion", "home"),
        interest_words=("premium", "quality", "delivery", "loyal", "favorite", "brand", "fast", "collection"),
        sentiment_words=POSITIVE_WORDS,
        texts_mean=0.8,
        text_source_mix=(0.5, 0.05, 0.45),
        plan_mix=(0.02, 0.18, 0.75, 0.05),
        upgrade_share=0.6,
        income_mix=(0.05, 0.15, 0.40, 0.40),
        age_range=(32, 65),
        promo_prob=0.05,
        marketing_consent=0.8,
        search_terms=("designer", "premium", "new collection"),
    ),
    Profile(
        name="bargain_hunter",
        share=0.20,
        activity=1.3,
        events_per_session=8,
        event_mix=(0.16, 0.33, 0.26, 0.10, 0.04, 0.04, 0.04, 0.03, 0.0, 0.0),
        hour_peak=21,
        hour_sd=2.5,
        weekday=_WEEKEND,
        spend=("lognormal", 3.0, 0.4),
        channel_mix=(0.45, 0.30, 0.10, 0.15),
        device_mix=(0.25, 0.65, 0.10),
        favourite_categories=("fashion", "grocery", "toys"),
        interest_words=("discount", "coupon", "sale", "cheap", "deal", "promo", "price", "voucher"),
        sentiment_words=POSITIVE_WORDS + NEUTRAL_WORDS,
        texts_mean=0.8,
        text_source_mix=(0.5, 0.05, 0.45),
        plan_mix=(0.6, 0.35, 0.05, 0.0),
        upgrade_share=0.1,
        income_mix=(0.35, 0.40, 0.20, 0.05),
        age_range=(18, 70),
        promo_prob=0.6,
        search_terms=("discount", "sale", "cheap shoes", "coupon", "clearance", "deal"),
    ),
    Profile(
        name="lapsed",
        share=0.18,
        activity=0.7,
        events_per_session=4,
        event_mix=(0.35, 0.24, 0.10, 0.08, 0.04, 0.05, 0.09, 0.04, 0.0, 0.01),
        hour_peak=18,
        hour_sd=4,
        weekday=_WEEKEND,
        spend=("lognormal", 4.0, 0.7),
        channel_mix=(0.55, 0.25, 0.15, 0.05),
        device_mix=(0.45, 0.45, 0.10),
        favourite_categories=("books", "home", "sports"),
        interest_words=("stopped", "forgot", "moved", "busy", "expensive", "elsewhere", "bored", "used"),
        sentiment_words=NEUTRAL_WORDS,
        texts_mean=0.4,
        text_source_mix=(0.7, 0.05, 0.25),
        plan_mix=(0.4, 0.4, 0.2, 0.0),
        upgrade_share=0.0,
        income_mix=(0.2, 0.35, 0.3, 0.15),
        age_range=(25, 75),
        promo_prob=0.05,
        marketing_consent=0.4,
    ),
    Profile(
        name="new_curious",
        share=0.15,
        activity=0.6,
        events_per_session=5,
        event_mix=(0.40, 0.30, 0.16, 0.06, 0.02, 0.02, 0.02, 0.02, 0.0, 0.0),
        hour_peak=22,
        hour_sd=3,
        weekday=_WEEKEND,
        spend=("lognormal", 3.6, 0.5),
        channel_mix=(0.40, 0.30, 0.05, 0.25),
        device_mix=(0.20, 0.70, 0.10),
        favourite_categories=("beauty", "fashion", "electronics"),
        interest_words=("new", "first", "trying", "explore", "curious", "browse", "how", "started"),
        sentiment_words=POSITIVE_WORDS + NEUTRAL_WORDS,
        texts_mean=0.5,
        text_source_mix=(0.7, 0.05, 0.25),
        plan_mix=(0.8, 0.2, 0.0, 0.0),
        upgrade_share=0.15,
        income_mix=(0.35, 0.35, 0.2, 0.1),
        age_range=(18, 30),
        promo_prob=0.1,
        search_terms=("how to", "best", "trending", "new"),
    ),
    Profile(
        name="b2b_power_user",
        share=0.14,
        activity=1.5,
        events_per_session=7,
        event_mix=(0.14, 0.05, 0.07, 0.02, 0.02, 0.03, 0.03, 0.02, 0.61, 0.01),
        hour_peak=11,
        hour_sd=2.0,
        weekday=(1.0, 1.0, 1.0, 1.0, 0.9, 0.08, 0.05),
        spend=("pareto", 200.0, 1.6),
        channel_mix=(0.70, 0.20, 0.10, 0.0),
        device_mix=(0.90, 0.05, 0.05),
        favourite_categories=("software", "services"),
        interest_words=("api", "integration", "dashboard", "team", "sso", "export", "invoice", "admin"),
        sentiment_words=NEUTRAL_WORDS + POSITIVE_WORDS,
        texts_mean=1.2,
        text_source_mix=(0.5, 0.3, 0.2),
        plan_mix=(0.0, 0.02, 0.08, 0.9),
        upgrade_share=0.6,
        income_mix=(0.0, 0.1, 0.4, 0.5),
        age_range=(28, 58),
        promo_prob=0.02,
        search_terms=("api docs", "sso setup", "export csv", "webhooks"),
    ),
    Profile(
        name="support_heavy",
        share=0.18,
        activity=0.9,
        events_per_session=3,
        event_mix=(0.25, 0.14, 0.05, 0.05, 0.03, 0.04, 0.04, 0.02, 0.02, 0.36),
        hour_peak=14,
        hour_sd=3,
        weekday=(1.0, 0.95, 0.9, 0.9, 0.85, 0.6, 0.5),
        spend=("lognormal", 4.0, 0.7),
        channel_mix=(0.60, 0.30, 0.10, 0.0),
        device_mix=(0.55, 0.40, 0.05),
        favourite_categories=("electronics", "home"),
        interest_words=("refund", "late", "broken", "waiting", "complaint", "support", "missing", "damaged"),
        sentiment_words=NEGATIVE_WORDS,
        texts_mean=3.0,
        text_source_mix=(0.05, 0.8, 0.15),
        plan_mix=(0.3, 0.5, 0.2, 0.0),
        upgrade_share=0.15,
        income_mix=(0.25, 0.35, 0.3, 0.1),
        age_range=(25, 75),
        promo_prob=0.05,
        status_mix=(0.70, 0.22, 0.08),
        marketing_consent=0.3,
        search_terms=("return policy", "refund", "contact", "order status"),
    ),
    Profile(
        name="anonymous_visitor",
        share=0.0,
        activity=0.3,
        events_per_session=3,
        event_mix=(0.50, 0.35, 0.12, 0.03, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
        hour_peak=15,
        hour_sd=5,
        weekday=_WEEKEND,
        spend=("lognormal", 3.5, 0.5),
        channel_mix=(0.60, 0.10, 0.0, 0.30),
        device_mix=(0.30, 0.60, 0.10),
        favourite_categories=CATEGORIES[:8],
        interest_words=("looking", "browse", "price", "product", "info"),
        sentiment_words=NEUTRAL_WORDS,
        texts_mean=0.15,
        text_source_mix=(0.0, 0.0, 1.0),
        plan_mix=(1, 0, 0, 0),
        upgrade_share=0.0,
        income_mix=(0.25, 0.25, 0.25, 0.25),
        age_range=(18, 75),
        promo_prob=0.05,
    ),
)
SEGMENT_NAMES = tuple(p.name for p in PROFILES)
ANONYMOUS_CODE = len(PROFILES) - 1


def by_segment(code: Column, value: Callable[[Profile], object]) -> Column:
    """Per-segment lookup: the value of ``value(profile)`` for the row's segment code."""
    return F.element_at(lit_array([_listify(value(p)) for p in PROFILES]), code + 1)


def cum_by_segment(code: Column, mix: Callable[[Profile], Sequence[float]]) -> Column:
    """Per-segment cumulative weights, for :func:`seglib.generate.rand.weighted_index`."""
    return by_segment(code, lambda p: cumulative(mix(p)))


def choose_by_segment(
    code: Column, u: Column, values: Sequence[object], mix: Callable[[Profile], Sequence[float]]
) -> Column:
    """Weighted choice among ``values`` with the row's segment's weights ``mix(profile)``."""
    return F.element_at(lit_array(values), weighted_index(u, cum_by_segment(code, mix)) + 1)


def hour_seconds(code: Column, z: Column) -> Column:
    """Seconds after midnight around the segment's peak hour, for a standard-normal draw ``z``, wrapped to the day."""
    peak = by_segment(code, lambda p: float(p.hour_peak))
    sd = by_segment(code, lambda p: float(p.hour_sd))
    return F.pmod(peak + sd * z, F.lit(24.0)) * F.lit(3600.0)


def _listify(value: object) -> object:
    return list(value) if isinstance(value, tuple | list) else value
