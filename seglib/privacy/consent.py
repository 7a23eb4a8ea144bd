"""Consent state per subject: the latest decision per (subject, purpose) wins, pivoted to one row per subject.

A null purpose column means *no recorded decision*; the feature stage treats only ``analytics = true`` as consent.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from seglib.privacy.keys import KeyRing
from seglib.privacy.pseudonymize import pseudonym

PURPOSES = ("analytics", "personalization", "marketing_email")


def latest_consent_per_purpose(raw_consents_df: DataFrame, key_ring: KeyRing) -> DataFrame:
    """One row per (subject_id pseudonym, purpose): the latest decision; on a timestamp tie, a denial wins."""
    purpose = F.lower(F.trim(F.col("purpose")))
    return (
        raw_consents_df.select(
            pseudonym(F.col("subject_id"), key_ring).alias("subject_id"),
            purpose.alias("purpose"),
            F.col("granted").cast("boolean").alias("granted"),
            F.col("updated_at"),
        )
        .where(
            F.col("subject_id").isNotNull()
            & F.col("purpose").isin(*PURPOSES)
            & F.col("granted").isNotNull()
            & F.col("updated_at").isNotNull()
        )
        .groupBy("subject_id", "purpose")
        # max over (updated_at, denied): the latest event, and among simultaneous ones the denial (safe side).
        .agg(F.max(F.struct("updated_at", (~F.col("granted")).alias("denied"))).alias("latest"))
        .select(
            "subject_id",
            "purpose",
            (~F.col("latest.denied")).alias("granted"),
            F.col("latest.updated_at").alias("updated_at"),
        )
    )


def latest_consents(raw_consents_df: DataFrame, key_ring: KeyRing) -> DataFrame:
    """Raw consent events -> silver consents [subject_id, analytics, personalization, marketing_email, updated_at]."""
    per_purpose = latest_consent_per_purpose(raw_consents_df, key_ring)
    return per_purpose.groupBy("subject_id").agg(
        *[F.max(F.when(F.col("purpose") == p, F.col("granted"))).alias(p) for p in PURPOSES],
        F.max("updated_at").alias("updated_at"),
    )
