from __future__ import annotations

import pytest
from chispa import assert_df_equality

from seglib.config.features import PsychographicsConfig
from seglib.features.psychographics import psychographic_features, resolve_engine, sparknlp_available
from tests.features.silver_data import AS_OF, texts_df

CFG = PsychographicsConfig(
    interests={"sports": ["running", "yoga"], "technology": ["laptop", "machine learning"]},
)


@pytest.fixture(scope="module")
def texts(spark):
    return texts_df(
        spark,
        [
            ("a", "2024-02-01 10:00:00", "I love Running and YOGA, great shoes!"),
            ("a", "2024-02-02 10:00:00", "The laptop was broken. Terrible."),
            ("b", "2024-02-03 10:00:00", "Machine learning talks are the best"),
            ("c", "2024-02-04 10:00:00", "Nothing to say here, [email] masked"),
            ("c", "2024-03-01 00:00:00", "running running yoga - written at the cut-off, excluded"),
            ("d", "2024-03-05 10:00:00", "laptop laptop love - after as_of, excluded"),
        ],
    )


def test_builtin_interest_shares_sentiment_and_counts(spark, texts):
    out = psychographic_features(texts, CFG, AS_OF, engine="builtin")
    expected = spark.createDataFrame(
        [
            ("a", 2, 2 / 3, 1 / 3, 0.0),  # love, great vs broken, terrible
            ("b", 1, 0.0, 1.0, 1.0),  # two-word phrase matched through bigrams; "best"
            ("c", 1, 0.0, 0.0, 0.0),  # no interest / sentiment words: zeros, not nulls
        ],
        "subject_id string, text_count long, interest_sports double, interest_technology double, "
        "sentiment_score double",
    )
    assert_df_equality(out.select(expected.columns), expected, ignore_row_order=True, ignore_nullable=True)


def test_negative_sentiment(spark):
    texts = texts_df(spark, [("n", "2024-01-01 00:00:00", "awful, slow and broken")])
    row = psychographic_features(texts, CFG, AS_OF, engine="builtin").first()
    assert row.sentiment_score == -1.0


def test_auto_engine_falls_back_to_builtin_without_sparknlp_jar(spark):
    # The Spark NLP jar is not on this machine's classpath; auto must pick the built-in path, not fail.
    assert sparknlp_available() is False
    assert resolve_engine(CFG) == "builtin"


def test_taxonomy_names_validated():
    with pytest.raises(ValueError, match="lower-case identifiers"):
        PsychographicsConfig(interests={"Bad Name": ["x"]})
