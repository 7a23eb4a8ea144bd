"""The whole pipeline on the Spark 3.5 profile, in-process: generate -> ingest -> features through Spark NLP ->
clustering -> segments, on a small generated world, offline. The text features are checked against the segments
the generator planted (each writes its own vocabulary and sentiment words)."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow
import pytest
from pyspark.sql import functions as F

from seglib.cli import main
from seglib.config import load_config
from seglib.delta_io import read_table
from seglib.features.nlp import lemma_map
from seglib.generate.profiles import PROFILES
from seglib.modeling.truth import truth_by_subject
from seglib.privacy.keys import parse_key_ring
from seglib.tables import Warehouse

REPO = Path(__file__).resolve().parents[2]
KEY = "35ab" * 16  # a throwaway key for this test only
AS_OF = "2026-06-01"
# The taxonomy is the planted segments' own vocabulary, so each segment should score highest on its interest.
PLANTED_INTERESTS = ("high_value_loyal", "bargain_hunter", "support_heavy", "b2b_power_user")
OVERRIDES = (
    "generator.customers=160",
    "generator.days=30",
    "generator.events_per_customer=12",
    f"generator.end_date={AS_OF}",
    "features.psychographics.engine=sparknlp",
    "features.psychographics.lda.enabled=true",  # Spark ML topics over the annotators' lemmas
    "features.psychographics.lda.k=3",
    "propensity.enabled=false",  # a 30-day world has no labelled past cut-offs; the 4.1 e2e run trains them
    "clv.enabled=false",  # on Spark 4.1, `seg run` fits, scores and publishes it: tests/e2e/test_foreign_data.py
    "clustering.k_min=2",
    "clustering.k_max=3",
    "clustering.seeds_per_k=1",
    "clustering.stability_resamples=2",
)


@pytest.fixture(scope="module")
def run(spark, tmp_path_factory):
    base = tmp_path_factory.mktemp("spark35")
    interests = {p.name: sorted(set(p.interest_words)) for p in PROFILES if p.name in PLANTED_INTERESTS}
    taxonomy = base / "interests.yaml"
    lines = ["features:", "  psychographics:", "    interests:"]
    lines += [f"      {name}: [{', '.join(words)}]" for name, words in interests.items()]
    taxonomy.write_text("\n".join(lines) + "\n")
    sets = [f"warehouse.path={base}/wh", *OVERRIDES]
    args = ["--config", str(REPO / "conf" / "local.yaml"), "--config", str(taxonomy)]
    args += [a for s in sets for a in ("--set", s)]
    os.environ["SEGLIB_PSEUDONYM_KEY"] = KEY
    try:
        assert main(["run", *args, "--as-of", AS_OF, "--generate"]) == 0
    finally:
        del os.environ["SEGLIB_PSEUDONYM_KEY"]
    cfg = load_config([REPO / "conf" / "local.yaml", taxonomy], sets)
    wh = Warehouse.of(cfg)
    truth = truth_by_subject(read_table(spark, wh.location("raw/planted_truth")), parse_key_ring(KEY, source="test"))
    features = read_table(spark, wh.location("features/subject_features")).join(truth, "subject_id")
    return cfg, wh, features


def test_every_stage_ran_and_the_engine_is_recorded(spark, run):
    cfg, wh, _ = run
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{wh.location('features/subject_features')}`").first()
    assert detail.properties["seglib.text_engine"] == "sparknlp"
    assert read_table(spark, wh.location("segments/segment_membership")).count() > 0
    mlflow.set_tracking_uri(cfg.mlflow.tracking_uri or f"sqlite:///{Path(cfg.warehouse.path).parent}/mlflow.db")
    runs = mlflow.search_runs(search_all_experiments=True, filter_string="tags.`seglib.text_engine` = 'sparknlp'")
    assert len(runs) == 1
    artifacts = mlflow.MlflowClient().list_artifacts(runs.run_id[0])
    assert "text_pipeline" in {a.path for a in artifacts}


def test_sentiment_sign_follows_the_planted_segments(run):
    _, _, features = run
    mean = {
        r.planted_segment: r.sentiment
        for r in features.where("text_count > 0")
        .groupBy("planted_segment")
        .agg(F.avg("sentiment_score").alias("sentiment"))
        .collect()
    }
    assert mean["support_heavy"] < 0  # writes the negative words
    assert mean["high_value_loyal"] > 0  # writes the positive words


def test_interests_match_the_planted_vocabulary(run):
    _, _, features = run
    for segment in PLANTED_INTERESTS:
        means = (
            features.where(f"text_count > 0 AND planted_segment = '{segment}'")
            .agg(*[F.avg(f"interest_{name}").alias(name) for name in PLANTED_INTERESTS])
            .first()
            .asDict()
        )
        assert max(means, key=means.get) == segment, means


def test_topics_are_a_distribution_per_writer(run):
    _, _, features = run
    total = F.col("topic_0") + F.col("topic_1") + F.col("topic_2")
    row = (
        features.where("text_count > 0")
        .agg(F.count("*").alias("writers"), F.sum(F.when(F.abs(total - 1) < 1e-6, 1).otherwise(0)).alias("sum_to_one"))
        .first()
    )
    assert row.writers > 0 and row.sum_to_one == row.writers


def test_keywords_come_from_the_writers_vocabulary(run):
    _, _, features = run
    words = {w for p in PROFILES if p.name == "support_heavy" for w in p.interest_words}
    lemmas = lemma_map()
    support_words = words | {lemmas.get(w, w) for w in words}  # keywords are lemmas ("waiting" -> "wait")
    top = (
        features.where("planted_segment = 'support_heavy' AND text_count > 0")
        .select(F.explode("top_keywords").alias("keyword"))
        .groupBy("keyword")
        .count()
        .orderBy(F.desc("count"), "keyword")
        .first()
    )
    assert top.keyword in support_words or top.keyword.split(" ")[0] in support_words, top
