"""Spark ML preparation of feature columns for clustering: impute, index, assemble, scale, optional PCA.

Custom stages are Params-only transformers with ``keyword_only`` constructors and DefaultParamsReadable/Writable,
so the fitted PipelineModel saves and loads like any built-in one (no Python state outside Params).
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark import keyword_only
from pyspark.ml import Pipeline, Transformer
from pyspark.ml.feature import (
    PCA,
    Imputer,
    MinMaxScaler,
    OneHotEncoder,
    StandardScaler,
    StringIndexer,
    VectorAssembler,
)
from pyspark.ml.param.shared import HasInputCols, HasOutputCols
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from seglib.config.features import FeaturesConfig, PreparationConfig


class CastToDouble(Transformer, HasInputCols, HasOutputCols, DefaultParamsReadable, DefaultParamsWritable):
    """Cast numeric/boolean/decimal columns to double so Imputer and VectorAssembler accept them all."""

    @keyword_only
    def __init__(self, *, inputCols: list[str] | None = None, outputCols: list[str] | None = None) -> None:
        super().__init__()
        self._set(**self._input_kwargs)

    @keyword_only
    def setParams(self, *, inputCols: list[str] | None = None, outputCols: list[str] | None = None) -> CastToDouble:
        return self._set(**self._input_kwargs)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        pairs = zip(self.getInputCols(), self.getOutputCols(), strict=True)
        return dataset.withColumns({out: F.col(src).cast("double") for src, out in pairs})


class MissingIndicator(Transformer, HasInputCols, HasOutputCols, DefaultParamsReadable, DefaultParamsWritable):
    """1.0 where the input is null or NaN (before imputation), else 0.0: lets models see that a value was missing."""

    @keyword_only
    def __init__(self, *, inputCols: list[str] | None = None, outputCols: list[str] | None = None) -> None:
        super().__init__()
        self._set(**self._input_kwargs)

    @keyword_only
    def setParams(self, *, inputCols: list[str] | None = None, outputCols: list[str] | None = None) -> MissingIndicator:
        return self._set(**self._input_kwargs)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        pairs = zip(self.getInputCols(), self.getOutputCols(), strict=True)
        return dataset.withColumns(
            {out: (F.col(src).isNull() | F.isnan(F.col(src))).cast("double") for src, out in pairs}
        )


class IndexModeFill(Transformer, HasInputCols, HasOutputCols, DefaultParamsReadable, DefaultParamsWritable):
    """Mode imputation for StringIndexer output: the 'keep' bucket (nulls, unseen labels) becomes index 0.

    With stringOrderType='frequencyDesc' index 0 is the most frequent training label, i.e. the mode. The bucket's
    index is read from the column's ML attribute metadata (its labels end with '__unknown'); metadata is kept.
    """

    @keyword_only
    def __init__(self, *, inputCols: list[str] | None = None, outputCols: list[str] | None = None) -> None:
        super().__init__()
        self._set(**self._input_kwargs)

    @keyword_only
    def setParams(self, *, inputCols: list[str] | None = None, outputCols: list[str] | None = None) -> IndexModeFill:
        return self._set(**self._input_kwargs)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        fields = {f.name: f for f in dataset.schema.fields}
        out = dataset
        for src, dst in zip(self.getInputCols(), self.getOutputCols(), strict=True):
            meta = fields[src].metadata
            labels = meta.get("ml_attr", {}).get("vals", [])
            col = F.col(src)
            if labels and labels[-1] == "__unknown":
                col = F.when(F.col(src) == float(len(labels) - 1), F.lit(0.0)).otherwise(F.col(src))
            out = out.withColumn(dst, col.alias(dst, metadata=meta))
        return out


def split_columns(feature_cols: Sequence[str], cfg: PreparationConfig) -> tuple[list[str], list[str]]:
    """(numeric, categorical) by the configured categorical list."""
    categorical = [c for c in feature_cols if c in cfg.categorical_cols]
    numeric = [c for c in feature_cols if c not in cfg.categorical_cols]
    return numeric, categorical


def build_preparation_pipeline(feature_cols: Sequence[str], cfg: FeaturesConfig | PreparationConfig) -> Pipeline:
    """Cast -> missing indicators -> median Imputer -> StringIndexer(keep) + mode fill [-> OneHot] -> assemble ->
    scale [-> PCA]; the final vector is ``cfg.output_col``."""
    prep = cfg.preparation if isinstance(cfg, FeaturesConfig) else cfg
    numeric, categorical = split_columns(feature_cols, prep)
    stages: list = []
    vector_inputs: list[str] = []
    if numeric:
        as_double = [f"{c}__dbl" for c in numeric]
        imputed = [f"{c}__imputed" for c in numeric]
        stages.append(CastToDouble(inputCols=numeric, outputCols=as_double))
        if prep.missing_indicators:
            flags = [f"{c}_was_missing" for c in numeric]
            stages.append(MissingIndicator(inputCols=as_double, outputCols=flags))
            vector_inputs += flags
        stages.append(Imputer(strategy="median", inputCols=as_double, outputCols=imputed))
        vector_inputs = imputed + vector_inputs
    if categorical:
        indexed = [f"{c}__idx" for c in categorical]
        filled = [f"{c}__mode" for c in categorical]
        stages.append(
            StringIndexer(
                inputCols=categorical, outputCols=indexed, handleInvalid="keep", stringOrderType="frequencyDesc"
            )
        )
        stages.append(IndexModeFill(inputCols=indexed, outputCols=filled))
        if prep.one_hot:
            encoded = [f"{c}__ohe" for c in categorical]
            stages.append(OneHotEncoder(inputCols=filled, outputCols=encoded, dropLast=True, handleInvalid="keep"))
            vector_inputs += encoded
        else:
            vector_inputs += filled
    if not vector_inputs:
        raise ValueError("build_preparation_pipeline needs at least one feature column")
    stages.append(VectorAssembler(inputCols=vector_inputs, outputCol="_assembled", handleInvalid="keep"))
    scaled = "_scaled" if prep.pca_k else prep.output_col
    if prep.scaler == "standard":
        stages.append(StandardScaler(inputCol="_assembled", outputCol=scaled, withMean=True, withStd=True))
    else:
        stages.append(MinMaxScaler(inputCol="_assembled", outputCol=scaled))
    if prep.pca_k:
        stages.append(PCA(k=prep.pca_k, inputCol=scaled, outputCol=prep.output_col))
    return Pipeline(stages=stages)
