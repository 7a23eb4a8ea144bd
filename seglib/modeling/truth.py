"""Agreement of a segmentation with the generator's planted truth (synthetic data only).

``raw/planted_truth`` holds raw ids; a subject's ``subject_id`` is the pseudonym of its customer_id, else of its
anonymous_id (identity stitching in ingest), so the truth is pseudonymised the same way before the join.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglib.config import SeglibConfig
from seglib.delta_io import read_table, table_exists
from seglib.modeling.metrics import ari_from_counts, contingency_counts, nmi_from_counts
from seglib.privacy.keys import KeyRing, load_key_ring
from seglib.privacy.pseudonymize import pseudonym
from seglib.tables import Warehouse


def truth_by_subject(truth: DataFrame, key_ring: KeyRing) -> DataFrame:
    """subject_id, planted_segment: the planted truth keyed like the silver and segment tables."""
    raw_id = F.coalesce(F.col("customer_id"), F.col("anonymous_id"))
    return truth.select(pseudonym(raw_id, key_ring).alias("subject_id"), "planted_segment")


def scores_against_truth(assigned: DataFrame, truth: DataFrame, cluster_col: str = "cluster_id") -> dict[str, float]:
    """ARI and NMI of ``cluster_col`` against ``planted_segment`` over the subjects both frames hold."""
    joined = assigned.select("subject_id", cluster_col).join(truth, "subject_id")
    counts = contingency_counts(joined, cluster_col, "planted_segment")
    return {
        "ari": ari_from_counts(counts),
        "nmi": nmi_from_counts(counts),
        "subjects": float(sum(counts.values())),
        "planted_segments": float(len({b for _, b in counts})),
    }


def planted_truth_scores(
    spark: SparkSession, cfg: SeglibConfig, membership: DataFrame, cluster_col: str = "cluster_id"
) -> dict[str, float] | None:
    """ARI/NMI of a membership frame (subject_id + ``cluster_col``) against ``raw/planted_truth``; None without it."""
    location = Warehouse.of(cfg).location("raw/planted_truth")
    if not table_exists(spark, location):
        return None
    truth = truth_by_subject(read_table(spark, location), load_key_ring(cfg.privacy))
    return scores_against_truth(membership, truth, cluster_col)
