"""The stages of a seglib run, one module each; each takes (spark, config, run context) and returns a typed result
(seglib.run_types). The orchestrator, seglib.pipeline, decides which run and in which order."""

from seglib.stages.cluster import planted_truth_scores_of, stage_cluster
from seglib.stages.clv import clv_skipped, stage_clv
from seglib.stages.feasibility import check_families
from seglib.stages.features import stage_features
from seglib.stages.generate import stage_generate
from seglib.stages.ingest import stage_ingest
from seglib.stages.inputs import read_features, read_silver
from seglib.stages.propensity import stage_propensity
from seglib.stages.segments import stage_segments

__all__ = [
    "check_families",
    "clv_skipped",
    "planted_truth_scores_of",
    "read_features",
    "read_silver",
    "stage_cluster",
    "stage_clv",
    "stage_features",
    "stage_generate",
    "stage_ingest",
    "stage_propensity",
    "stage_segments",
]
