"""The shared types of a run, on the ground floor so every layer can use them without importing upward: the run's
identity and clock (:class:`RunContext`), what a model family's feasibility check found (:class:`FamilyCheck`), what a
registration in the MLflow model registry produced (:class:`ModelRegistration`), each stage's typed result and the
whole run's (:class:`RunResult`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, Literal

FamilyStatus = Literal["ok", "skipped", "not_applicable"]


@dataclass(frozen=True)
class RunContext:
    """Identity and clock of one run: ``as_of`` is the snapshot date; ``now`` the run's reference instant."""

    as_of: date
    now: datetime
    run_id: str

    @classmethod
    def create(cls, as_of: date | None = None, run_id: str | None = None) -> RunContext:
        wall = datetime.now(UTC).replace(tzinfo=None)
        day = as_of or wall.date()
        # Replaying history: "now" is the snapshot cut-off (00:00 UTC of as_of), so nothing after it counts as
        # valid yet and the run's output does not depend on the day it is replayed.
        now = wall if day >= wall.date() else datetime.combine(day, time(0, 0))
        return cls(as_of=day, now=now, run_id=run_id or uuid.uuid4().hex[:16])


@dataclass(frozen=True)
class FamilyCheck:
    """Whether one model family can be trained (or was published); ``family`` is its segment family name."""

    family: str  # propensity_<target> | clv_bracket | cluster
    status: FamilyStatus
    reason: str = ""  # one line, empty when ok


@dataclass(frozen=True)
class ModelRegistration:
    """One model version registered in MLflow and what the champion gate made of it."""

    model_name: str
    model_version: str
    alias: str  # champion | challenger
    gate_reason: str = ""  # why the gate decided so
    mlflow_run_id: str = ""  # the MLflow run that logged the model


@dataclass(frozen=True)
class GenerateResult:
    counts: dict[str, int]


@dataclass(frozen=True)
class FeaturesResult:
    location: str
    rfm_thresholds: dict[str, Any] | None
    text_engine: str
    text_model: Any = None  # the fitted Spark NLP PipelineModel when text_engine is sparknlp


@dataclass(frozen=True)
class PropensityTargetResult:
    target: str
    model_name: str
    trained_version: str | None  # None when only scoring
    alias: str | None  # the trained version's alias after the gate
    scored_version: str | None  # the champion that scored the snapshot
    model_kind: str | None
    holdout: dict[str, float]  # holdout metrics of the GBT and the baseline (prefixed gbt_/baseline_)
    tiers: dict[str, float]
    tier_sizes: dict[str, int]
    skipped: FamilyCheck | None = None  # why the target was not trained (or not scored), None when it was


@dataclass(frozen=True)
class ClvResult:
    model_name: str
    trained_version: str | None  # None when only scoring or when the new fit was refused
    alias: str | None  # the trained version's alias after the gate
    scored_version: str | None  # None: no champion to score with
    refused: str | None  # why the new fit was not published (not converged, at a bound, ...)
    holdout: dict[str, float]  # the calibration fit's holdout comparison (empty when only scoring)
    by_frequency: list[dict[str, Any]]
    parameters: dict[str, float]  # the scoring model's BG/NBD and Gamma-Gamma parameters
    brackets: dict[str, float]  # bracket -> predicted CLV threshold
    bracket_sizes: dict[str, int]
    gamma_gamma_method: str | None = None  # the scoring model's spend model: mle | shrunk_mean (None: not scored)


@dataclass(frozen=True)
class ClusterResult:
    model_name: str  # the model that scored the published snapshot (the champion if the new fit is a challenger)
    model_version: str
    mlflow_run_id: str  # the run that logged the new fit
    alias: str  # what the new fit became: champion or challenger
    gate_reason: str
    k: int
    silhouette: float
    personas: dict
    segments: dict
    tables: dict[str, str]
    selection_reason: str = ""
    dropped_features: dict[str, str] = field(default_factory=dict)
    sparse_subjects: bool = False  # segments.sparse_when left subjects out of the clustering (placed otherwise)
    truth_scores: dict[str, float] = field(default_factory=dict)  # synthetic data: agreement with the planted truth


@dataclass(frozen=True)
class SegmentsResult:
    snapshot_date: date
    previous_snapshot_date: date | None
    subjects: int
    transitions: int
    table_versions: dict[str, int]
    percentiles: dict[str, float | None]
    sizes: list[dict[str, Any]]  # per family and segment: name, size, share, meets_min_size
    tables: dict[str, str]


@dataclass
class RunResult:
    """What a run did, stage by stage (None: the stage did not run), and the model families it could not produce."""

    context: RunContext
    generate: GenerateResult | None = None
    ingest: Any = None  # seglib.ingest.run.IngestReport
    features: FeaturesResult | None = None
    propensity: list[PropensityTargetResult] = field(default_factory=list)
    clv: ClvResult | None = None
    cluster: ClusterResult | None = None
    segments: SegmentsResult | None = None
    skipped: list[FamilyCheck] = field(default_factory=list)  # skipped or not applicable, with the reason

    @property
    def partial(self) -> bool:
        """True when a family that applies to this data was not trained or not published (schedulers alert on it;
        a family the data cannot have, ``not_applicable``, does not count)."""
        return any(c.status == "skipped" for c in self.skipped)
