"""Feature stage: silver tables -> one point-in-time-correct row per consented subject per snapshot date."""

from __future__ import annotations

from seglib.features.build import FeatureSet, build_feature_set, build_features, consented_subjects
from seglib.features.dictionary import FEATURE_COLUMN_COMMENTS, feature_column_comments, write_data_dictionary
from seglib.features.rfm import RfmThresholds

__all__ = [
    "FEATURE_COLUMN_COMMENTS",
    "FeatureSet",
    "RfmThresholds",
    "build_feature_set",
    "build_features",
    "consented_subjects",
    "feature_column_comments",
    "write_data_dictionary",
]
