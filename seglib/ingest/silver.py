"""Validated raw rows -> the pseudonymous silver tables (columns: each function's final ``select``; table and
column comments: ``SILVER_COMMENTS``; minimisation rules: docs/privacy.md).

Every identifier leaves through ``pseudonym``; customers go through ``minimise_customers`` (their history through
``minimise_customer_versions``), consents through
``latest_consents`` and free text through ``mask_pii`` (all from seglib.privacy).
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from seglib.ingest.dedup import dedup_events, dedup_texts, keep_first, latest_crm, latest_orders, with_net_amount
from seglib.privacy.consent import latest_consents
from seglib.privacy.identity import apply_identity
from seglib.privacy.minimise import SILVER_CUSTOMER_COLUMNS, minimise_customer_versions, minimise_customers
from seglib.privacy.pseudonymize import pseudonym
from seglib.privacy.text import mask_pii


def with_id_pseudonyms(df: DataFrame, key_ring) -> DataFrame:
    """anonymous_pseudonym and customer_pseudonym, the inputs apply_identity expects."""
    return df.withColumn("anonymous_pseudonym", pseudonym(F.col("anonymous_id"), key_ring)).withColumn(
        "customer_pseudonym", pseudonym(F.col("customer_id"), key_ring)
    )


def silver_events(
    valid: DataFrame, key_ring, identity_map: DataFrame, run_id: str, repeated: DataFrame | None = None
) -> DataFrame:
    """De-duplicated events keyed by subject (``repeated``: see dedup.keep_first); no raw identifier survives the
    final projection."""
    events = (
        dedup_events(valid, repeated)
        .transform(lambda d: with_id_pseudonyms(d, key_ring))
        .select(
            pseudonym(F.col("event_id"), key_ring).alias("event_id"),
            "event_ts",
            F.to_date("event_ts").alias("event_date"),
            "anonymous_pseudonym",
            "customer_pseudonym",
            pseudonym(F.col("session_id"), key_ring).alias("session_id"),
            "event_type",
            "channel",
            "device",
            "country",
            "content_category",
            "product_id",
            "revenue",
            "currency",
        )
    )
    return apply_identity(events, identity_map).select(
        "event_id",
        "event_ts",
        "event_date",
        "subject_id",
        "anonymous_pseudonym",
        "session_id",
        "event_type",
        "channel",
        "device",
        "country",
        "content_category",
        "product_id",
        "revenue",
        "currency",
        F.lit(run_id).alias("run_id"),
    )


def silver_texts(
    valid: DataFrame, key_ring, identity_map: DataFrame, run_id: str, repeated: DataFrame | None = None
) -> DataFrame:
    """De-duplicated texts with masked PII, keyed by the same subject as events."""
    texts = (
        dedup_texts(valid, repeated)
        .transform(lambda d: with_id_pseudonyms(d, key_ring))
        .select(
            pseudonym(F.col("text_id"), key_ring).alias("text_id"),
            "anonymous_pseudonym",
            "customer_pseudonym",
            "source",
            mask_pii(F.col("text")).alias("text"),
            "created_at",
        )
    )
    return apply_identity(texts, identity_map).select(
        "text_id", "subject_id", "source", "text", "created_at", F.lit(run_id).alias("run_id")
    )


def silver_orders(valid: DataFrame, key_ring, run_id: str, repeated: DataFrame | None = None) -> DataFrame:
    """One row per order at its latest state, with net_amount."""
    return (
        latest_orders(valid, repeated)
        .transform(with_net_amount)
        .select(
            pseudonym(F.col("order_id"), key_ring).alias("order_id"),
            pseudonym(F.col("customer_id"), key_ring).alias("subject_id"),
            "order_ts",
            F.to_date("order_ts").alias("order_date"),
            F.col("amount").cast("decimal(18,2)").alias("amount"),
            "currency",
            "status",
            "items",
            "product_category",
            "net_amount",
            F.lit(run_id).alias("run_id"),
        )
    )


def silver_customers(
    valid: DataFrame, key_ring, as_of: date, run_id: str, repeated: DataFrame | None = None
) -> tuple[DataFrame, DataFrame]:
    """(minimised current customers, subject_ids whose latest CRM version is a deletion)."""
    latest = latest_crm(valid, repeated)
    live = minimise_customers(latest.filter(~F.coalesce(F.col("is_deleted"), F.lit(False))), key_ring, as_of)
    deleted = latest.filter(F.col("is_deleted")).select(
        pseudonym(F.col("customer_id"), key_ring).alias("subject_id"), "updated_at"
    )
    return live.withColumn("run_id", F.lit(run_id)), deleted


# The attributes whose change opens a new customers_history row (a CRM version that only changes a dropped column,
# e-mail or phone, leaves the minimised state as it was).
HISTORY_ATTRIBUTES = (*[c for c in SILVER_CUSTOMER_COLUMNS if c not in ("subject_id", "updated_at")], "is_deleted")
HISTORY_KEYS = ("subject_id", "valid_from")


def customer_states(valid: DataFrame, key_ring) -> DataFrame:
    """Every CRM version, minimised: subject_id, the attributes, valid_from, is_deleted (one row per customer and
    version time; a deletion wins a tie, as in :func:`latest_crm`)."""
    versions = keep_first(valid, ["customer_id", "updated_at"], [F.col("is_deleted").desc_nulls_last()])
    return minimise_customer_versions(versions, key_ring)


def scd2_history(states: DataFrame) -> DataFrame:
    """Minimised states -> SCD type 2 rows: consecutive identical states collapse into the first, each row is valid
    until the next one starts (``valid_to``), the last is current. Duplicated (subject, valid_from) states keep one,
    a deletion first."""
    one_per_time = keep_first(states, list(HISTORY_KEYS), [F.col("is_deleted").desc_nulls_last()])
    by_time = Window.partitionBy("subject_id").orderBy("valid_from")
    state = F.struct(*HISTORY_ATTRIBUTES)
    changed = one_per_time.withColumn("_changed", ~state.eqNullSafe(F.lag(state).over(by_time)))
    return (
        changed.where("_changed")
        .drop("_changed")
        .withColumn("valid_to", F.lead("valid_from").over(by_time))
        .withColumn("is_current", F.col("valid_to").isNull())
    )


def silver_consents(valid: DataFrame, key_ring, run_id: str) -> DataFrame:
    return latest_consents(valid, key_ring).withColumn("run_id", F.lit(run_id))


def rekeyed(silver: DataFrame, new_links: DataFrame) -> DataFrame:
    """Rows still keyed by their anonymous pseudonym that a new identity link now ties to a customer."""
    links = new_links.select("anonymous_pseudonym", F.col("subject_id").alias("_linked_subject"))
    return (
        silver.filter(F.col("subject_id") == F.col("anonymous_pseudonym"))
        .join(links, "anonymous_pseudonym")
        .withColumn("subject_id", F.col("_linked_subject"))
        .drop("_linked_subject")
    )
