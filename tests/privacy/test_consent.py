from __future__ import annotations

from datetime import datetime

from chispa import assert_df_equality

from seglib.privacy.consent import latest_consents
from seglib.privacy.pseudonymize import pseudonym_py


def ts(day: int, hour: int = 0) -> datetime:
    return datetime(2024, 1, day, hour)


def test_latest_per_purpose_wins_and_pivots(spark, key_ring):
    raw = spark.createDataFrame(
        [
            ("C1", "analytics", True, ts(1)),
            ("C1", "analytics", False, ts(3)),  # latest: withdrawn
            ("C1", "analytics", True, ts(2)),
            ("C1", "marketing_email", True, ts(2)),
            ("anon-9", "Personalization ", True, ts(5)),  # purpose normalised
            ("C2", "analytics", True, ts(4)),
            ("C2", "analytics", False, ts(4)),  # same instant: the denial wins
            ("C3", "unknown_purpose", True, ts(1)),  # ignored
            (None, "analytics", True, ts(1)),  # ignored
        ],
        "subject_id string, purpose string, granted boolean, updated_at timestamp",
    )
    got = latest_consents(raw, key_ring)
    p = lambda c: pseudonym_py(c, key_ring.active)  # noqa: E731
    expected = spark.createDataFrame(
        [
            (p("C1"), False, None, True, ts(3)),
            (p("anon-9"), None, True, None, ts(5)),
            (p("C2"), False, None, None, ts(4)),
        ],
        "subject_id string, analytics boolean, personalization boolean, marketing_email boolean, updated_at timestamp",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
