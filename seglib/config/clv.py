"""Config of predicted customer lifetime value (conf/clv.yaml): BG/NBD for the number of future purchases,
Gamma-Gamma for their value, the holdout the pair is validated on, the prediction horizon and the value brackets."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from seglib.config.base import StrictModel
from seglib.config.registry import GateRule, ModelRegistryConfig


class ClvConfig(StrictModel):
    enabled: bool = Field(True, description="Fit the CLV models and score the snapshot.")
    required: bool = Field(
        False,
        description="true: a run fails (exit 2) when CLV cannot be fitted or scored on the data, instead of "
        "publishing the other families without it (exit 3).",
    )
    period: Literal["day", "week"] = Field(
        "week",
        description="Time unit of the BG/NBD: purchases are counted as distinct periods with a completed order "
        "(several orders in one period are one purchase) and recency/T are whole periods. The fitted rate "
        "parameter alpha is in this unit.",
    )
    holdout_days: int = Field(
        90,
        ge=1,
        description="Length of the validation window: the models are also fitted at the calibration cut-off "
        "as_of - holdout_days and their predicted purchases compared with the actual ones in [cut-off, as_of).",
    )
    horizon_days: int = Field(365, ge=1, description="Prediction horizon of expected purchases and predicted CLV.")
    annual_discount_rate: float = Field(
        0.10, ge=0, lt=1, description="Yearly discount rate of future value (0.10: a unit in a year is worth 1/1.1)."
    )
    brackets: dict[str, float] = Field(
        default_factory=lambda: {"top": 0.9, "high": 0.7, "medium": 0.4},
        description="Bracket -> quantile of predicted CLV in the scored snapshot its members exceed; the rest: 'low'.",
    )
    max_summary_rows: int = Field(
        2_000_000,
        ge=1,
        description="Refuse to fit when an aggregated likelihood table (distinct (x, t_x, T) or (x, m) with "
        "counts) has more rows: it is collected to the driver.",
    )
    max_iter: int = Field(1000, ge=1, description="Iterations of the L-BFGS-B optimiser per model.")
    tol: float = Field(
        1e-10, gt=0, description="Optimiser tolerance on the relative change of the mean log-likelihood."
    )
    penalizer: float = Field(
        0.0,
        ge=0,
        description="L2 penalty on the parameters added to the mean negative log-likelihood (lifetimes' "
        "penalizer_coef); 0: plain maximum likelihood.",
    )
    min_repeat_customers: int = Field(
        20,
        ge=1,
        description="Fewer subjects with a repeat purchase and the models are not fitted (CLV is refused); fewer "
        "with a positive repeat value and Gamma-Gamma is not tried: the spend model is the shrunk mean.",
    )
    spend_shrinkage_default: float = Field(
        1.0,
        ge=0,
        description="Shrinkage constant k of the shrunk-mean spend fallback (a subject's mean over x positive "
        "repeat periods weighs x / (x + k) against the population mean) when the data cannot estimate it (no "
        "subject with 2+ positive repeat periods, or a single subject); else k = within / between-subject variance.",
    )

    registry: ModelRegistryConfig = Field(
        default_factory=lambda: ModelRegistryConfig(
            champion_gate=[
                GateRule(metric="abs_relative_error", higher_is_better=False, tolerance=0.05, minimum=0.25),
                GateRule(metric="correlation", tolerance=0.05, minimum=0.3),
            ]
        ),
        description="Registered name (null = <mlflow.registered_model_prefix>_clv) and the holdout metrics a new "
        "version must reach (and not lose against the champion) to take its alias: abs_relative_error (aggregate "
        "predicted vs actual purchases) and correlation (per subject).",
    )
    MOVED_KEYS: ClassVar[dict[str, str]] = {"champion_gate": "clv.champion_gate moved to clv.registry.champion_gate"}

    @model_validator(mode="after")
    def _check(self) -> ClvConfig:
        bad = [q for q in self.brackets.values() if not 0 < q < 1]
        if bad:
            raise ValueError(f"clv.brackets quantiles must be in (0, 1): {bad}")
        if "low" in self.brackets:
            raise ValueError("clv.brackets: 'low' is the bracket below every threshold; do not set it")
        if len(set(self.brackets.values())) != len(self.brackets):
            raise ValueError(f"clv.brackets quantiles must be distinct: {self.brackets}")
        return self
