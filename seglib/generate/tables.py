"""Assemble the five raw tables (exact contract schema) plus the planted truth, and write them as Delta."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglib.config.generator import GeneratorConfig
from seglib.delta_io import TableSpec, read_table, write_table
from seglib.generate.activity import events, orders, sessions
from seglib.generate.calendar import History
from seglib.generate.crm import consents, crm_customers
from seglib.generate.defects import (
    DEFECT_COL,
    EVENT_DEFECTS,
    ORDER_DEFECTS,
    defect_counts,
    with_event_defects,
    with_order_defects,
)
from seglib.generate.rand import Rng
from seglib.generate.subjects import planted_truth, subjects
from seglib.generate.texts import texts

log = logging.getLogger(__name__)

# (column, Spark type, comment) per raw table: the raw input contract.
CONTRACT: dict[str, list[tuple[str, str, str]]] = {
    "raw_events": [
        ("event_id", "string", "Event identifier (duplicates possible in raw data)"),
        ("event_ts", "timestamp", "When the event happened (UTC)"),
        ("anonymous_id", "string", "Device/cookie identifier, present before and after login"),
        ("customer_id", "string", "CRM customer id when logged in, else null"),
        ("session_id", "string", "Web/app session identifier"),
        ("event_type", "string", "page_view, product_view, search, add_to_cart, checkout, purchase, ..."),
        ("channel", "string", "web, app, email or social"),
        ("device", "string", "desktop, mobile or tablet"),
        ("country", "string", "ISO-3166 alpha-2 country"),
        ("content_category", "string", "Category of the content or product involved"),
        ("product_id", "string", "Product involved, for product events"),
        ("revenue", "decimal(18,2)", "Purchase amount; null unless a purchase"),
        ("currency", "string", "ISO-4217 currency of revenue"),
        ("properties", "map<string,string>", "Free-form event properties (query, promo_code, feature, ...)"),
    ],
    "raw_crm_customers": [
        ("customer_id", "string", "CRM customer id"),
        ("email", "string", "E-mail address (PII)"),
        ("phone", "string", "Phone number (PII)"),
        ("first_name", "string", "First name (PII)"),
        ("last_name", "string", "Last name (PII)"),
        ("birth_date", "date", "Date of birth (PII)"),
        ("gender", "string", "female, male, nonbinary or null"),
        ("country", "string", "ISO-3166 alpha-2 country"),
        ("postal_code", "string", "Postal code (PII)"),
        ("income_band", "string", "low, lower_middle, upper_middle, high"),
        ("signup_date", "date", "Account creation date"),
        ("company_name", "string", "Employer, for business customers"),
        ("company_size", "int", "Employees of the company"),
        ("industry", "string", "Industry of the company"),
        ("job_title", "string", "Job title"),
        ("plan", "string", "free, basic, premium or enterprise"),
        ("updated_at", "timestamp", "Version time; the latest version per customer wins"),
        ("is_deleted", "boolean", "True on the version that deletes the customer"),
    ],
    "raw_orders": [
        ("order_id", "string", "Order identifier"),
        ("customer_id", "string", "CRM customer id"),
        ("order_ts", "timestamp", "Order time (UTC)"),
        ("amount", "decimal(18,2)", "Order amount"),
        ("currency", "string", "ISO-4217 currency"),
        ("status", "string", "completed, refunded or cancelled"),
        ("items", "int", "Number of items"),
        ("product_category", "string", "Main product category"),
    ],
    "raw_consents": [
        ("subject_id", "string", "customer_id or anonymous_id"),
        ("purpose", "string", "analytics, personalization or marketing_email"),
        ("granted", "boolean", "Consent given (true) or withdrawn (false)"),
        ("updated_at", "timestamp", "Decision time; the latest per subject and purpose wins"),
    ],
    "raw_texts": [
        ("text_id", "string", "Text identifier"),
        ("customer_id", "string", "Author's customer id, if known"),
        ("anonymous_id", "string", "Author's anonymous id, if not a known customer"),
        ("source", "string", "survey, support_ticket or review"),
        ("text", "string", "Free text; may contain e-mail addresses or phone numbers"),
        ("created_at", "timestamp", "When the text was written (UTC)"),
    ],
}
TRUTH_CONTRACT = [
    ("customer_id", "string", "CRM customer id (null for anonymous-only visitors)"),
    ("anonymous_id", "string", "The subject's anonymous id"),
    ("planted_segment", "string", "Behavioural segment the generator planted"),
    ("is_anonymous_only", "boolean", "Visitor never identified"),
    ("is_deleted", "boolean", "Latest CRM version deletes the customer"),
]
TABLE_COMMENTS = {
    "raw_events": "Synthetic clickstream (seg generate): includes deliberately invalid rows",
    "raw_crm_customers": "Synthetic CRM change log (seg generate): fake PII",
    "raw_orders": "Synthetic orders matching purchase events (seg generate)",
    "raw_consents": "Synthetic consent decisions (seg generate)",
    "raw_texts": "Synthetic surveys, support tickets and reviews (seg generate)",
    "truth": "Planted segments of the synthetic data, for evaluating segmentation",
}


@dataclass(frozen=True)
class Generated:
    """Lazily defined output frames; ``events``/``orders`` still carry the ``_defect`` column."""

    tables: dict[str, DataFrame]
    truth: DataFrame


def conform(df: DataFrame, contract: list[tuple[str, str, str]]) -> DataFrame:
    """Exactly the contract's columns, in order, with the contract's types and column comments."""
    return df.select(
        *[F.col(name).cast(dtype).alias(name, metadata={"comment": text}) for name, dtype, text in contract]
    )


def history_for(cfg: GeneratorConfig, as_of: date) -> History:
    return History(days=cfg.days, end=cfg.end_date or as_of, as_of=as_of)


def build_raw_tables(spark: SparkSession, cfg: GeneratorConfig, as_of: date) -> Generated:
    """All generated frames (nothing computed yet); the same config gives the same rows."""
    history = history_for(cfg, as_of)
    rng = Rng(cfg.seed)
    subject_df = subjects(spark, cfg, history, rng)
    clean_events = events(sessions(subject_df, history, rng), history, rng)
    return Generated(
        tables={
            "raw_events": with_event_defects(clean_events, cfg.bad_row_share, history, rng),
            "raw_crm_customers": crm_customers(subject_df, history, rng),
            "raw_orders": with_order_defects(orders(clean_events, rng), cfg.bad_row_share, rng),
            "raw_consents": consents(subject_df, history, rng),
            "raw_texts": texts(subject_df, history, rng),
        },
        truth=planted_truth(subject_df),
    )


def _spec(location: str, name: str) -> TableSpec:
    # Column comments travel in the schema (see conform): one ALTER TABLE per column would cost ~0.7 s each.
    return TableSpec(location=location, comment=TABLE_COMMENTS[name])


def generate_raw_tables(
    spark: SparkSession,
    cfg: GeneratorConfig,
    locations: Mapping[str, str],
    truth_location: str,
    as_of: date,
) -> dict[str, int]:
    """Write the five raw tables and the planted truth; return row counts and injected-defect counts."""
    generated = build_raw_tables(spark, cfg, as_of)
    counts: dict[str, int] = {}
    outputs = [(name, generated.tables[name], contract, locations[name]) for name, contract in CONTRACT.items()]
    outputs.append(("truth", generated.truth, TRUTH_CONTRACT, truth_location))
    for name, df, contract, location in outputs:
        # A regenerated table replaces the old one entirely, even if an older generator wrote other columns.
        write_table(conform(df, contract), _spec(location, name), mode="overwrite", overwrite_schema=True)
        counts[name] = read_table(spark, location).count()
        log.info("generated %s: %d rows at %s", name, counts[name], location)
    counts.update(defect_counts(generated.tables["raw_events"], "events", EVENT_DEFECTS))
    counts.update(defect_counts(generated.tables["raw_orders"], "orders", ORDER_DEFECTS))
    return counts


__all__ = ["CONTRACT", "DEFECT_COL", "TRUTH_CONTRACT", "Generated", "build_raw_tables", "generate_raw_tables"]
