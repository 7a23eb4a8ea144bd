"""The registered form of a CLV fit: its parameters (one JSON artifact) inside an MLflow pyfunc that scores BTYD
summaries with numpy, so a consumer without Spark loads a versioned model by alias; Spark scoring reads the same
parameters and computes the same quantities as column expressions (:func:`seglib.modeling.clv.predict_clv`)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel
from scipy.special import hyp2f1

from seglib.modeling.clv import BgNbdParams, GammaGammaParams, ShrunkMeanParams, SpendParams, clv_steps, spend_method

PARAMETERS_FILE = "clv_parameters.json"
INPUT_COLUMNS = ("frequency", "recency", "T", "monetary_periods", "monetary_value")
OUTPUT_COLUMNS = ("probability_alive", "expected_purchases", "expected_avg_value", "predicted_clv")


@dataclass(frozen=True)
class ClvParameters:
    """Everything scoring needs: both models' parameters and the horizon they predict over. ``spend``: Gamma-Gamma's
    (p, q, v) or the shrunk-mean fallback's (population_mean, shrinkage), both scored by Spark columns and numpy."""

    bgnbd: BgNbdParams
    spend: SpendParams
    period: str
    horizon_days: int
    annual_discount_rate: float

    @property
    def spend_method(self) -> str:
        return spend_method(self.spend)

    def write(self, path: Path) -> Path:
        """JSON: the spend parameters under ``gamma_gamma`` or ``shrunk_mean`` (versions before the fallback wrote
        only ``gamma_gamma``, and still read)."""
        raw = asdict(self)
        raw["shrunk_mean" if self.spend_method == "shrunk_mean" else "gamma_gamma"] = raw.pop("spend")
        raw["spend_method"] = self.spend_method
        path.write_text(json.dumps(raw, indent=2, sort_keys=True))
        return path

    @classmethod
    def read(cls, path: Path) -> ClvParameters:
        raw = json.loads(Path(path).read_text())
        spend = (
            ShrunkMeanParams(**raw["shrunk_mean"]) if "shrunk_mean" in raw else GammaGammaParams(**raw["gamma_gamma"])
        )
        return cls(
            BgNbdParams(**raw["bgnbd"]),
            spend,
            raw["period"],
            int(raw["horizon_days"]),
            float(raw["annual_discount_rate"]),
        )


def _expected_purchases(bg: BgNbdParams, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """FHL 2005 eq. 10 in Euler's form (the same as the Spark columns; see clv.expected_purchases)."""
    z = t / (bg.alpha + T + t)
    bracket = 1 - (1 - z) ** (bg.a - 1) * hyp2f1(bg.a + bg.b - 1 - bg.r, bg.a - 1, bg.a + bg.b + x - 1, z)
    return (bg.a + bg.b + x - 1) / (bg.a - 1) * bracket * _probability_alive(bg, x, t_x, T)


def _probability_alive(bg: BgNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    repeat = x > 0
    log_odds = (
        np.log(bg.a)
        - np.log(np.where(repeat, bg.b + x - 1, 1.0))
        + (bg.r + x) * (np.log(bg.alpha + T) - np.log(bg.alpha + t_x))
    )
    return np.where(repeat, 1 / (1 + np.exp(np.minimum(log_odds, 700.0))), 1.0)


def predict_frame(params: ClvParameters, frame: pd.DataFrame) -> pd.DataFrame:
    """The four predicted columns for rows of (frequency, recency, T, monetary_periods, monetary_value)."""
    bg, gg = params.bgnbd, params.spend
    x, t_x, T = (frame[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    n = frame["monetary_periods"].fillna(0).to_numpy(dtype=float)
    m = frame["monetary_value"].to_numpy(dtype=float, na_value=np.nan)
    steps = clv_steps(params.horizon_days, params.period, params.annual_discount_rate)
    ends = [_expected_purchases(bg, t, x, t_x, T) for t, _ in steps]
    discounted = sum(
        (e - (ends[k - 1] if k else 0.0)) * d for k, (e, (_, d)) in enumerate(zip(ends, steps, strict=True))
    )
    has_value = (n > 0) & np.isfinite(m) & (m > 0)
    m = np.nan_to_num(m)
    with np.errstate(invalid="ignore", divide="ignore"):  # rows without a value take the population mean
        if isinstance(gg, ShrunkMeanParams):
            conditional = gg.population_mean + n / (n + gg.shrinkage) * (m - gg.population_mean)
        else:
            conditional = gg.p * (gg.v + n * m) / (gg.p * n + gg.q - 1)
    avg = np.where(has_value, conditional, gg.population_mean)
    return pd.DataFrame(
        {
            "probability_alive": _probability_alive(bg, x, t_x, T),
            "expected_purchases": ends[-1],
            "expected_avg_value": avg,
            "predicted_clv": avg * discounted,
        }
    )


class ClvPyfunc(PythonModel):
    """MLflow pyfunc over :func:`predict_frame`; the parameters are the model's ``parameters`` artifact."""

    def load_context(self, context) -> None:
        self.parameters = ClvParameters.read(Path(context.artifacts["parameters"]))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return predict_frame(self.parameters, model_input)
