"""Demographics / firmographics from the CRM history as of the snapshot (silver customers_history, SCD type 2)."""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from seglib.features._time import cutoff_ts, date_epoch_day

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


def plan_tier(plan: Column, plan_order: list[str]) -> Column:
    """Position of the plan in ``plan_order`` (0 = lowest); null for a plan not in it or no plan."""
    # A map lookup, not array_position: Spark 3.5's array_position takes a literal value only.
    tiers = F.create_map(*[x for tier, name in enumerate(plan_order) for x in (F.lit(name), F.lit(tier))])
    return tiers[plan].cast("int")


def customers_as_of(history: DataFrame, as_of: date) -> DataFrame:
    """Each subject's CRM state at 00:00 UTC of ``as_of``: the history row valid then, unless it records a deletion
    (a customer created later, or deleted by then, has no row)."""
    cut = cutoff_ts(as_of)
    valid = (F.col("valid_from") < cut) & (F.col("valid_to").isNull() | (F.col("valid_to") >= cut))
    return history.where(valid & ~F.coalesce(F.col("is_deleted"), F.lit(False)))


def demographic_features(history: DataFrame, as_of: date, plan_order: list[str]) -> DataFrame:
    """The attribute columns and ``plan_tier`` as of the snapshot, plus ``_customer_country`` / ``_signup_day`` kept
    for the final assembly. A sign-up dated on or after the snapshot does not count yet."""
    signed = F.coalesce(F.col("signup_date") < F.lit(as_of), F.lit(True))
    return (
        customers_as_of(history, as_of)
        .where(signed & F.col("subject_id").isNotNull())
        .select(
            "subject_id",
            *DEMOGRAPHIC_COLUMNS,
            plan_tier(F.col("plan"), plan_order).alias("plan_tier"),
            F.col("country").alias("_customer_country"),
            date_epoch_day(F.col("signup_date")).alias("_signup_day"),
        )
    )
