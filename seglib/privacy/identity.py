"""Identity stitching: an anonymous_id seen with a customer_id maps all its events, earlier and later, to that customer.

If one anonymous_id is seen with several customers (a shared device), the *first* link wins: the earliest event
carrying both ids, ties broken by the smaller customer pseudonym. The link is stable: later logins by someone else
on the same device do not move history between customers.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from seglib.privacy.keys import KeyRing
from seglib.privacy.pseudonymize import normalised_id, pseudonym

IDENTITY_MAP_COLUMNS = ("anonymous_pseudonym", "subject_id", "first_linked_ts")


def build_identity_links(events_df_with_raw_ids: DataFrame, key_ring: KeyRing) -> DataFrame:
    """Raw events -> [anonymous_pseudonym, subject_id, first_linked_ts], one row per linked anonymous id."""
    # Earliest event per distinct (anonymous id, customer id) pair first, on the normalised raw ids a pseudonym is
    # derived from: a hash aggregation that leaves the HMACs to the pairs, not to every event.
    both = events_df_with_raw_ids.select(
        normalised_id(F.col("anonymous_id")).alias("_anonymous"),
        normalised_id(F.col("customer_id")).alias("_customer"),
        F.col("event_ts").alias("first_linked_ts"),
    ).where(F.col("_anonymous").isNotNull() & F.col("_customer").isNotNull() & F.col("first_linked_ts").isNotNull())
    pairs = both.groupBy("_anonymous", "_customer").agg(F.min("first_linked_ts").alias("first_linked_ts"))
    return first_links(
        pairs.select(
            pseudonym(F.col("_anonymous"), key_ring).alias("anonymous_pseudonym"),
            pseudonym(F.col("_customer"), key_ring).alias("subject_id"),
            "first_linked_ts",
        )
    )


def first_links(links: DataFrame) -> DataFrame:
    """Keep the earliest link per anonymous pseudonym (across runs: the ingest upsert's FIRST_LINK_WINS)."""
    return (
        links.groupBy("anonymous_pseudonym")
        .agg(F.min(F.struct("first_linked_ts", "subject_id")).alias("first"))
        .select("anonymous_pseudonym", "first.subject_id", "first.first_linked_ts")
    )


def apply_identity(df: DataFrame, identity_map_df: DataFrame) -> DataFrame:
    """Add subject_id = customer pseudonym, else the anonymous id's linked customer, else the anonymous pseudonym."""
    links = identity_map_df.select(
        F.col("anonymous_pseudonym").alias("_link_anonymous"), F.col("subject_id").alias("_link_subject")
    )
    base = df.drop("subject_id") if "subject_id" in df.columns else df
    joined = base.join(links, base["anonymous_pseudonym"] == links["_link_anonymous"], "left")
    subject = F.coalesce(F.col("customer_pseudonym"), F.col("_link_subject"), F.col("anonymous_pseudonym"))
    return joined.withColumn("subject_id", subject).drop("_link_anonymous", "_link_subject")
