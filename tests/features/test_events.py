from __future__ import annotations

import pytest

from seglib.config.features import FeaturesConfig
from seglib.features.events import event_features
from tests.features.silver_data import AS_OF, events_df

# (subject, ts, type, session, channel, device, country, category)
ROWS = [
    ("u", "2024-01-10 03:00:00", "page_view", "s0", "web", "desktop", "DE", None),
    ("u", "2024-02-25 10:00:00", "page_view", "s1", "web", "desktop", "DE", "electronics"),
    ("u", "2024-02-25 10:05:00", "product_view", "s1", "web", "desktop", "DE", "electronics"),
    ("u", "2024-02-25 10:10:00", "add_to_cart", "s1", "web", "desktop", "DE", None),
    ("u", "2024-02-25 10:30:00", "purchase", "s1", "web", "desktop", "DE", None),
    ("u", "2024-02-27 08:00:00", "email_open", "s2", "email", "mobile", "DE", None),
    ("u", "2024-02-27 08:01:00", "email_click", "s2", "email", "mobile", "DE", None),
    ("u", "2024-02-27 20:00:00", "add_to_cart", "s2", "app", "mobile", "DE", None),
    ("u", "2024-02-27 20:01:00", "search", "s2", "app", "mobile", "DE", "fashion"),
    ("u", "2024-02-29 22:00:00", "add_to_cart", "s3", "web", "desktop", "DE", None),  # window still open
    ("u", "2024-03-01 00:00:00", "page_view", "s4", "web", "tablet", "FR", None),  # at cut-off: excluded
    ("u", "2024-03-01 00:00:01", "page_view", "s4", "web", "tablet", "FR", None),  # after: excluded
    ("u", "2024-03-02 12:00:00", "page_view", "s5", "web", "tablet", "FR", None),  # after: excluded
    ("n", "2024-02-01 09:00:00", "signup", "n1"),
    ("n", "2024-02-05 09:00:00", "feature_use", "n2"),
    ("m", "2024-02-01 09:00:00", "signup", "m1"),
    ("m", "2024-02-20 09:00:00", "feature_use", "m2"),  # 19 days later: too late
    ("m", "2024-03-01 10:00:00", "purchase", "m3"),  # after the cut-off: invisible
]


@pytest.fixture(scope="module")
def features(spark):
    out = event_features(events_df(spark, ROWS), FeaturesConfig(), AS_OF)
    return {r.subject_id: r.asDict() for r in out.collect()}


def test_engagement_counts_and_rates(features):
    u = features["u"]
    assert (u["events_90d"], u["sessions_90d"], u["page_views_90d"]) == (10, 4, 2)
    assert u["email_open_rate_90d"] == pytest.approx(1 / (90 / 7))
    assert u["email_click_rate_90d"] == 1.0
    assert u["engagement_trend"] == pytest.approx((9 - 1) / 10)
    assert u["avg_days_between_sessions_90d"] == pytest.approx((50 + 19 / 24) / 3)


def test_category_affinity_shares(features):
    u, n = features["u"], features["n"]
    assert (u["affinity_electronics"], u["affinity_fashion"], u["affinity_home"]) == pytest.approx((2 / 3, 1 / 3, 0))
    assert n["affinity_electronics"] == 0.0  # no categorised events -> zero, not null


def test_behaviour(features):
    u = features["u"]
    # 2 carts whose 24h window closed before the cut-off; one bought within 20 minutes, one abandoned
    assert u["cart_abandonment_rate_90d"] == 0.5
    assert (u["browse_depth_90d"], u["searches_per_session_90d"]) == (0.25, 0.25)
    assert u["onboarding_completed"] is None
    assert (features["n"]["onboarding_completed"], features["m"]["onboarding_completed"]) == (1, 0)
    assert features["n"]["cart_abandonment_rate_90d"] is None


def test_context_shares(features):
    u = features["u"]
    assert (u["device_share_desktop"], u["device_share_mobile"], u["device_share_tablet"]) == (0.6, 0.4, 0.0)
    assert (u["channel_share_web"], u["channel_share_app"], u["channel_share_email"]) == (0.6, 0.2, 0.2)
    assert [u[f"daypart_share_{d}"] for d in ("night", "morning", "afternoon", "evening")] == [0.1, 0.6, 0.0, 0.3]
    assert u["weekday_share"] == 0.6  # 2024-02-25 (4 events) is a Sunday


def test_cut_off_events_excluded(spark):
    rows = [("x", "2024-03-01 00:00:00", "page_view"), ("x", "2024-02-29 23:59:59", "page_view")]
    out = event_features(events_df(spark, rows), FeaturesConfig(), AS_OF).collect()
    assert [(r.subject_id, r.events_90d) for r in out] == [("x", 1)]


def test_groups_can_be_disabled(spark):
    cfg = FeaturesConfig.model_validate({"behaviour": {"enabled": False}, "context": {"enabled": False}})
    out = event_features(events_df(spark, ROWS[:3]), cfg, AS_OF)
    assert "cart_abandonment_rate_90d" not in out.columns and "weekday_share" not in out.columns
    assert {"sessions_90d", "events_90d", "engagement_trend"} <= set(out.columns)
