"""Additive smoothing of per-subject shares: a Spark ML Estimator (``ShareSmoother``) and its model.

A share computed from a subject's few events is noisy: from 2 events a device share can only be 0, 0.5 or 1, so a
sparse segment (lapsed customers with a last visit or two) scatters over the share axes and clustering splits it by
chance. Each share ``s`` over ``n`` events becomes ``(n * s + m * p) / (n + m)``: ``m`` pseudo-events at the
population share ``p`` (the mean share over subjects with events, fitted once and saved with the model). Subjects
with many events keep their own share; a subject without events (a null or meaningless share) gets ``p``.
"""

from __future__ import annotations

from typing import Any

from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCols, HasOutputCols
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from seglib.frames import first_row


class _SmootherParams(HasInputCols, HasOutputCols):
    countCol: Param[str] = Param(
        Params._dummy(), "countCol", "events each share is computed over", TypeConverters.toString
    )
    pseudoCount: Param[float] = Param(
        Params._dummy(), "pseudoCount", "pseudo-events at the population share", TypeConverters.toFloat
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._setDefault(pseudoCount=1.0)

    def _events(self) -> F.Column:
        return F.coalesce(F.col(self.getOrDefault(self.countCol)).cast("double"), F.lit(0.0))


class ShareSmoother(Estimator, _SmootherParams, DefaultParamsReadable, DefaultParamsWritable):
    """Fits the population share of every input column (mean over subjects with events) in one aggregation."""

    _input_kwargs: dict[str, Any]  # set by @keyword_only (pyspark's own estimators declare it the same way)

    @keyword_only
    def __init__(
        self,
        *,
        inputCols: list[str] | None = None,
        outputCols: list[str] | None = None,
        countCol: str | None = None,
        pseudoCount: float = 1.0,
    ) -> None:
        super().__init__()
        self._set(**self._input_kwargs)

    def _fit(self, dataset: DataFrame) -> ShareSmootherModel:
        inputs = self.getInputCols()
        if len(inputs) != len(self.getOutputCols()):
            raise ValueError("ShareSmoother needs as many outputCols as inputCols")
        if self.getOrDefault(self.pseudoCount) < 0:
            raise ValueError("ShareSmoother.pseudoCount must be >= 0")
        with_events = self._events() > 0
        row = first_row(dataset.agg(*[F.avg(F.when(with_events, F.col(c).cast("double"))).alias(c) for c in inputs]))
        model = ShareSmootherModel(populationShares=[float(row[c] or 0.0) for c in inputs])
        return self._copyValues(model)


class ShareSmootherModel(Model, _SmootherParams, DefaultParamsReadable, DefaultParamsWritable):
    populationShares: Param[list[float]] = Param(
        Params._dummy(), "populationShares", "fitted population share of each input column", TypeConverters.toListFloat
    )
    _input_kwargs: dict[str, Any]  # set by @keyword_only

    @keyword_only
    def __init__(self, *, populationShares: list[float] | None = None) -> None:
        super().__init__()
        self._set(**self._input_kwargs)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        events = self._events()
        pseudo = F.lit(self.getOrDefault(self.pseudoCount))
        smoothed = {}
        priors = self.getOrDefault(self.populationShares)
        for column, out, prior in zip(self.getInputCols(), self.getOutputCols(), priors, strict=True):
            share = F.col(column).cast("double")
            own = F.when(events > 0, share)  # without events the share is null or a placeholder 0
            value = (events * own + pseudo * F.lit(prior)) / (events + pseudo)
            smoothed[out] = F.coalesce(value, F.lit(prior))
        return dataset.withColumns(smoothed)
