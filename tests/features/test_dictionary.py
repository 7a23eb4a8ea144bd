from __future__ import annotations

from pathlib import Path

from seglib.config import load_config
from seglib.config.features import FeaturesConfig
from seglib.features import FEATURE_COLUMN_COMMENTS, feature_column_comments, write_data_dictionary

CONF = Path(__file__).resolve().parents[2] / "conf"


def test_consumer_column_names_are_documented():
    required = {
        "subject_id", "snapshot_date", "recency_days", "frequency_30d", "frequency_90d", "frequency_365d",
        "monetary_30d", "monetary_90d", "monetary_365d", "aov_365d", "tenure_days", "r_score", "f_score",
        "m_score", "rfm_cell", "rfm_score", "sessions_90d", "events_90d", "clv_bracket", "sentiment_score",
        "text_count", "interest_sports", "engagement_index", "engagement_trend", "country", "is_b2b",
    }  # fmt: skip
    assert required <= set(FEATURE_COLUMN_COMMENTS)
    assert all(text.strip() for text in FEATURE_COLUMN_COMMENTS.values())


def test_disabled_groups_drop_their_columns():
    cfg = FeaturesConfig.model_validate({"psychographics": {"enabled": False}, "rfm": {"enabled": False}})
    cols = feature_column_comments(cfg)
    assert "sentiment_score" not in cols and "r_score" not in cols and "recency_days" in cols


def test_write_data_dictionary(tmp_path):
    path = write_data_dictionary(tmp_path / "dd.md")
    text = path.read_text()
    assert text.count("\n| `") == len(FEATURE_COLUMN_COMMENTS)
    assert "| `rfm_cell` |" in text


def test_committed_data_dictionary_is_current():
    committed = Path(__file__).resolve().parents[2] / "docs" / "data_dictionary.md"
    assert committed.read_text() == write_data_dictionary(committed.with_suffix(".tmp")).read_text()
    committed.with_suffix(".tmp").unlink()


def test_conf_files_validate_and_define_the_taxonomy():
    cfg = load_config([CONF / "features.yaml", CONF / "interests.yaml"]).features
    assert cfg.psychographics.interests["technology"][-1] == "machine learning"
    assert cfg.engagement.index_weights["sessions_90d"] == 0.3
    assert "interest_travel" in feature_column_comments(cfg)
