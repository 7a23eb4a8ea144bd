"""Demographics / firmographics from silver customers (current state, one row per subject)."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from seglib.features._time import before_cutoff, date_epoch_day

DEMOGRAPHIC_COLUMNS = (
    "age_band",
    "gender",
    "income_band",
    "company_size_band",
    "industry",
    "plan",
    "region",
    "is_b2b",
)


def known_before(as_of: date) -> F.Column:
    """A customer counts if it signed up before the snapshot (or, without signup date, was updated before it)."""
    signed = F.col("signup_date") < F.lit(as_of)
    updated = before_cutoff(F.col("updated_at"), as_of)
    return F.coalesce(signed, updated, F.lit(True))


def demographic_features(customers: DataFrame, as_of: date) -> DataFrame:
    """The attribute columns plus ``_customer_country`` / ``_signup_day`` kept for the final assembly."""
    return customers.where(known_before(as_of) & F.col("subject_id").isNotNull()).select(
        "subject_id",
        *DEMOGRAPHIC_COLUMNS,
        F.col("country").alias("_customer_country"),
        date_epoch_day(F.col("signup_date")).alias("_signup_day"),
    )
