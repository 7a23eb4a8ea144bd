"""Builders of tiny silver DataFrames (the silver contract's columns, timestamps as UTC strings)."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

AS_OF = date(2024, 3, 1)  # cut-off: 2024-03-01 00:00:00 UTC

EVENT_COLS = "subject_id,event_ts,event_type,session_id,channel,device,country,content_category"
ORDER_COLS = "subject_id,order_ts,status,amount,net_amount"


def events_df(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    """rows: (subject_id, 'YYYY-MM-DD HH:MM:SS', event_type[, session_id, channel, device, country, category])."""
    defaults = ("s1", "web", "desktop", "DE", None)
    full = [tuple(r) + defaults[len(r) - 3 :] for r in rows]
    schema = ", ".join(f"{c} string" for c in EVENT_COLS.split(","))
    df = spark.createDataFrame(full, schema)
    return (
        df.withColumn("event_ts", F.to_timestamp("event_ts"))
        .withColumn("event_date", F.to_date("event_ts"))
        .withColumn("event_id", F.monotonically_increasing_id().cast("string"))
        .withColumn("anonymous_pseudonym", F.lit(None).cast("string"))
        .withColumn("product_id", F.lit(None).cast("string"))
        .withColumn("revenue", F.lit(None).cast("decimal(18,2)"))
        .withColumn("currency", F.lit(None).cast("string"))
        .withColumn("run_id", F.lit("r1"))
    )


def orders_df(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    """rows: (subject_id, 'YYYY-MM-DD HH:MM:SS', status, amount, net_amount) with amounts as strings."""
    schema = "subject_id string, order_ts string, status string, amount string, net_amount string"
    return (
        spark.createDataFrame(rows, schema)
        .withColumn("order_ts", F.to_timestamp("order_ts"))
        .withColumn("order_date", F.to_date("order_ts"))
        .withColumn("amount", F.col("amount").cast("decimal(18,2)"))
        .withColumn("net_amount", F.col("net_amount").cast("decimal(18,2)"))
        .withColumn("order_id", F.monotonically_increasing_id().cast("string"))
        .withColumn("currency", F.lit("EUR"))
        .withColumn("items", F.lit(1))
        .withColumn("product_category", F.lit("books"))
        .withColumn("run_id", F.lit("r1"))
    )


def customers_history_df(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    """rows: (subject_id, signup_date 'YYYY-MM-DD', country, plan, is_b2b): one current CRM history row each, valid
    from the sign-up."""
    schema = "subject_id string, signup_date string, country string, plan string, is_b2b boolean"
    return (
        spark.createDataFrame(rows, schema)
        .withColumn("signup_date", F.to_date("signup_date"))
        .withColumn("age_band", F.lit("25-34"))
        .withColumn("gender", F.lit("f"))
        .withColumn("region", F.lit("EU"))
        .withColumn("postal_prefix", F.lit("10"))
        .withColumn("income_band", F.lit("mid"))
        .withColumn("company_size_band", F.when(F.col("is_b2b"), F.lit("10-49")))
        .withColumn("industry", F.when(F.col("is_b2b"), F.lit("retail")))
        .withColumn("valid_from", F.col("signup_date").cast("timestamp"))
        .withColumn("valid_to", F.lit(None).cast("timestamp"))
        .withColumn("is_current", F.lit(True))
        .withColumn("is_deleted", F.lit(False))
        .withColumn("run_id", F.lit("r1"))
    )


def consents_df(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    """rows: (subject_id, analytics)."""
    return (
        spark.createDataFrame(rows, "subject_id string, analytics boolean")
        .withColumn("personalization", F.lit(True))
        .withColumn("marketing_email", F.lit(False))
        .withColumn("updated_at", F.to_timestamp(F.lit("2024-01-01 00:00:00")))
        .withColumn("run_id", F.lit("r1"))
    )


def texts_df(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    """rows: (subject_id, 'YYYY-MM-DD HH:MM:SS', text)."""
    return (
        spark.createDataFrame(rows, "subject_id string, created_at string, text string")
        .withColumn("created_at", F.to_timestamp("created_at"))
        .withColumn("text_id", F.monotonically_increasing_id().cast("string"))
        .withColumn("source", F.lit("review"))
        .withColumn("run_id", F.lit("r1"))
    )
