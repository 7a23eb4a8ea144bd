"""The Spark NLP text engine on literal texts: sentiment with lemmas and negation, taxonomy matches, keywords, and
the fitted pipeline's save/reload."""

from __future__ import annotations

import socket

import pytest
from chispa import assert_df_equality

from seglib.config.features import PsychographicsConfig
from seglib.features.nlp import annotate, load_text_model
from seglib.features.psychographics import fit_text_model, psychographic_features, resolve_engine
from tests.features.silver_data import AS_OF, texts_df

CFG = PsychographicsConfig(
    interests={"sports": ["running", "yoga"], "technology": ["laptop", "machine learning"]},
)


def test_the_network_is_cut_off():
    """`make test-spark35` runs this profile offline; if this fails, the other tests prove nothing about it."""
    with pytest.raises(OSError):
        socket.create_connection(("pypi.org", 443), timeout=3)


@pytest.fixture(scope="module")
def texts(spark):
    return texts_df(
        spark,
        [
            ("a", "2024-02-01 10:00:00", "I loved the yoga class, really good"),
            ("a", "2024-02-02 10:00:00", "The laptop arrived broken. Terrible."),
            ("b", "2024-02-03 10:00:00", "This laptop is not good"),
            ("c", "2024-02-04 10:00:00", "Machine learning talks about machine learning are the best"),
            ("d", "2024-02-04 10:00:00", "Nothing to say here"),
            ("c", "2024-03-01 00:00:00", "terrible terrible - written at the cut-off, excluded"),
        ],
    )


@pytest.fixture(scope="module")
def model(texts):
    return fit_text_model(texts, CFG)


def test_auto_engine_is_spark_nlp_on_this_profile(spark):
    assert resolve_engine(spark, PsychographicsConfig()) == "sparknlp"


def test_sentiment_interests_and_counts(spark, texts, model):
    out = psychographic_features(texts, CFG, AS_OF, engine="sparknlp", text_model=model)
    expected = spark.createDataFrame(
        [
            ("a", 2, 0.5, 0.5, 0.0),  # "loved" -> love (+), then broken/terrible (-): one text each way
            ("b", 1, 0.0, 1.0, -1.0),  # "not good": the negation flips the sentence
            ("c", 1, 0.0, 1.0, 1.0),  # the two-word phrase twice; "best" (+)
            ("d", 1, 0.0, 0.0, 0.0),  # no taxonomy or lexicon word: zeros, not nulls
        ],
        "subject_id string, text_count long, interest_sports double, interest_technology double, "
        "sentiment_score double",
    )
    assert_df_equality(out.select(expected.columns), expected, ignore_row_order=True, ignore_nullable=True)


def test_keywords_are_yake_lemmas(texts, model):
    keywords = {r.subject_id: r.top_keywords for r in psychographic_features(texts, CFG, AS_OF, "sparknlp", model)
                .select("subject_id", "top_keywords").collect()}  # fmt: skip
    assert "machine learning" in keywords["c"]  # the two-word keyword YAKE ranks first in its text
    words = {w for ws in keywords.values() for keyword in ws for w in keyword.split(" ")}
    assert not {"loved", "arrived", "the", "is", "this"} & words  # lemmas ("love", "arrive"), no stop words
    assert keywords["d"] == [] or "say" in keywords["d"]


def test_fitted_pipeline_saves_and_reloads(tmp_path, texts, model):
    model.write().overwrite().save(str(tmp_path / "text_pipeline"))
    reloaded = load_text_model(str(tmp_path / "text_pipeline"))
    assert_df_equality(
        annotate(reloaded, texts, CFG), annotate(model, texts, CFG), ignore_row_order=True, ignore_nullable=True
    )
