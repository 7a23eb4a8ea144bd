"""Free texts (surveys, support tickets, reviews) whose words follow the writer's planted segment."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from seglib.generate.calendar import SECONDS_PER_DAY, History
from seglib.generate.crm import email, phone
from seglib.generate.profiles import FILLER_WORDS, TEXT_SOURCES, by_segment, choose_by_segment
from seglib.generate.rand import Rng, lit_array, pick_from

TEXT_KEYS = ("subject_idx", "text_idx")
INTEREST_WORD_SHARE = 0.4
SENTIMENT_WORD_SHARE = 0.2
EMAIL_IN_TEXT_SHARE = 0.08
PHONE_IN_TEXT_SHARE = 0.07


def _words(rng: Rng) -> Column:
    """8-16 words: segment interest words, the segment's sentiment words, and filler."""
    n_words = F.lit(8) + F.floor(rng.u("n_words", *TEXT_KEYS) * 9).cast("int")
    interest = by_segment(F.col("seg"), lambda p: p.interest_words)
    sentiment = by_segment(F.col("seg"), lambda p: p.sentiment_words)
    filler = lit_array(FILLER_WORDS)

    def word(i: Column) -> Column:
        kind = rng.u("word_kind", *TEXT_KEYS, i)
        u = rng.u("word", *TEXT_KEYS, i)
        return (
            F.when(kind < INTEREST_WORD_SHARE, pick_from(u, interest))
            .when(kind < INTEREST_WORD_SHARE + SENTIMENT_WORD_SHARE, pick_from(u, sentiment))
            .otherwise(pick_from(u, filler))
        )

    return F.array_join(F.transform(F.sequence(F.lit(1), n_words), word), " ")


def texts(subject_df: DataFrame, history: History, rng: Rng) -> DataFrame:
    """0..n texts per subject (support-heavy write most); some contain an e-mail address or phone number."""
    code = F.col("seg")
    n_texts = F.floor(by_segment(code, lambda p: p.texts_mean) + rng.u("n_texts", "subject_idx")).cast("int")
    day = F.col("win_start") + rng.u("text_day", *TEXT_KEYS) * (F.col("win_end") - F.col("win_start"))
    pii = rng.u("text_pii", *TEXT_KEYS)
    body = _words(rng)
    text = (
        F.when(
            F.col("is_customer") & (pii < EMAIL_IN_TEXT_SHARE),
            F.concat(body, F.lit(" you can reach me at "), email(rng)),
        )
        .when(
            F.col("is_customer") & (pii < EMAIL_IN_TEXT_SHARE + PHONE_IN_TEXT_SHARE),
            F.concat(body, F.lit(" call me on "), phone(rng)),
        )
        .otherwise(body)
    )
    source = choose_by_segment(code, rng.u("text_source", *TEXT_KEYS), TEXT_SOURCES, lambda p: p.text_source_mix)
    return (
        subject_df.withColumn("n_texts", n_texts)
        .withColumn("text_idx", F.explode(F.sequence(F.lit(0), F.greatest(F.col("n_texts") - 1, F.lit(0)))))
        .where(F.col("text_idx") < F.col("n_texts"))
        .select(
            F.concat(F.lit("txt-"), rng.hex_id("text_id", *TEXT_KEYS)).alias("text_id"),
            F.col("customer_id"),
            F.when(~F.col("is_customer"), F.col("anonymous_id")).alias("anonymous_id"),
            source.alias("source"),
            text.alias("text"),
            history.ts(day * SECONDS_PER_DAY).alias("created_at"),
        )
    )
