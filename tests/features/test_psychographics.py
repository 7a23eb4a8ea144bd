from __future__ import annotations

import logging

import pytest
from chispa import assert_df_equality

from seglib.config.features import PsychographicsConfig
from seglib.features import psychographics
from seglib.features.psychographics import (
    TextEngineUnavailableError,
    jvm_class_loads,
    psychographic_features,
    resolve_engine,
)
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


def test_jvm_class_probe_tells_loaded_from_absent_classes(spark):
    assert jvm_class_loads(spark, "org.apache.spark.ml.feature.RegexTokenizer") is True
    assert jvm_class_loads(spark, "org.example.NoSuchAnnotator") is False


@pytest.mark.parametrize(
    ("configured", "loads", "expected"),
    [("auto", False, "builtin"), ("auto", True, "sparknlp"), ("sparknlp", True, "sparknlp")],
)
def test_engine_choice_follows_config_and_is_logged(spark, monkeypatch, caplog, configured, loads, expected):
    monkeypatch.setattr(psychographics, "sparknlp_loads", lambda _spark: loads)
    with caplog.at_level(logging.INFO, logger=psychographics.__name__):
        assert resolve_engine(spark, CFG.model_copy(update={"engine": configured})) == expected
    assert f"text engine {expected}" in caplog.text


def test_builtin_engine_never_probes_for_sparknlp(spark, monkeypatch):
    def probe(_spark):
        raise AssertionError("builtin must not look for Spark NLP")

    monkeypatch.setattr(psychographics, "sparknlp_loads", probe)
    assert resolve_engine(spark, CFG.model_copy(update={"engine": "builtin"})) == "builtin"


def test_sparknlp_requested_but_unavailable_is_an_error_not_a_switch(spark, monkeypatch):
    monkeypatch.setattr(psychographics, "sparknlp_loads", lambda _spark: False)
    with pytest.raises(TextEngineUnavailableError, match="not on the classpath"):
        resolve_engine(spark, CFG.model_copy(update={"engine": "sparknlp"}))


def test_unknown_engine_name_is_rejected(texts):
    with pytest.raises(ValueError, match="unknown text engine"):
        psychographic_features(texts, CFG, AS_OF, engine="spacy")


def test_builtin_engine_on_no_texts_gives_no_rows(spark):
    assert psychographic_features(texts_df(spark, []), CFG, AS_OF, engine="builtin").count() == 0


def test_lda_on_no_texts_keeps_typed_topic_columns(spark):
    cfg = CFG.model_copy(update={"lda": CFG.lda.model_copy(update={"enabled": True, "k": 2})})
    out = psychographic_features(texts_df(spark, []), cfg, AS_OF, engine="builtin")
    assert [(f.name, f.dataType.simpleString()) for f in out.schema.fields][-2:] == [
        ("topic_0", "double"),
        ("topic_1", "double"),
    ]
    assert out.count() == 0


def test_taxonomy_names_validated():
    with pytest.raises(ValueError, match="lower-case identifiers"):
        PsychographicsConfig(interests={"Bad Name": ["x"]})


def test_builtin_keywords_rank_by_texts_then_count_then_name(spark):
    texts = texts_df(
        spark,
        [
            ("k", "2024-01-01 00:00:00", "yoga yoga mat"),
            ("k", "2024-01-02 00:00:00", "yoga class, the class"),
            ("n", "2024-01-03 00:00:00", "the and of"),  # only stop words: no keyword
        ],
    )
    out = psychographic_features(texts, CFG, AS_OF, engine="builtin").select("subject_id", "top_keywords")
    expected = spark.createDataFrame(
        # yoga: 2 texts; class: twice in one text; then once each, by name
        [("k", ["yoga", "class", "class class", "mat", "yoga class"]), ("n", [])],
        "subject_id string, top_keywords array<string>",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)
