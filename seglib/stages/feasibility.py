"""Which model families this run can train: checked right after ingest, before any expensive work."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pyspark.sql import SparkSession

from seglib.config import SeglibConfig
from seglib.errors import RequiredFamilyError
from seglib.run_types import FamilyCheck, RunContext
from seglib.stages.inputs import read_silver
from seglib.tables import CLUSTER_FAMILY, CLV_FAMILY, propensity_family

log = logging.getLogger(__name__)


def check_families(
    spark: SparkSession, cfg: SeglibConfig, ctx: RunContext, stages: Sequence[str]
) -> dict[str, FamilyCheck]:
    """Family -> whether it can be trained on this data (seglib.modeling.feasibility), for the families the run
    trains; seconds of Spark work. A family marked ``required`` that cannot be trained fails the run here."""
    from seglib.modeling.feasibility import check_clv, check_propensity_targets

    training_propensity = cfg.propensity.enabled and "propensity" in stages
    training_clv = cfg.clv.enabled and "clv" in stages
    if not (training_propensity or training_clv):
        return {}
    silver = read_silver(spark, cfg)
    found = [*(check_propensity_targets(silver, cfg, ctx.as_of) if training_propensity else ())]
    if training_clv:
        found.append(check_clv(silver, ctx.as_of))
    failed = [c for c in found if c.status != "ok"]
    for c in failed:
        log.warning("%s %s: %s", c.family, c.status.replace("_", " "), c.reason)
    required = [c.reason for c in failed if _required(cfg, c.family)]
    if required:
        raise RequiredFamilyError(f"required families cannot be trained on this data: {'; '.join(required)}")
    return {c.family: c for c in found}


def _required(cfg: SeglibConfig, family: str) -> bool:
    if family == CLV_FAMILY:
        return cfg.clv.required
    if family == CLUSTER_FAMILY:
        return cfg.clustering.required
    targets = {propensity_family(name): t for name, t in cfg.propensity.targets.items()}
    return family in targets and targets[family].required
