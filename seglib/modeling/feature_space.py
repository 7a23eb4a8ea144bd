"""The feature space clustering works in: Spark ML stages saved inside the fitted PipelineModel.

additive smoothing of event shares (seglib.modeling.smoothing) -> cast (+ log1p of heavy-tailed columns) -> median
imputation -> one-hot of categorical columns (missing = a level) -> assembly -> standard or robust scaling ->
optional per-feature weights -> optional PCA. Fitted once per model: the k grid works on the transformed vectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.ml.feature import (
    PCA,
    ElementwiseProduct,
    Imputer,
    OneHotEncoder,
    RobustScaler,
    SQLTransformer,
    StandardScaler,
    StringIndexer,
    VectorAssembler,
)
from pyspark.ml.linalg import Vectors
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from seglib.config.modeling import ClusteringConfig
from seglib.frames import first_row
from seglib.modeling.smoothing import ShareSmoother

FEATURES_COL = "features"
SCALED_COL = "features_scaled"


MAX_LEVELS = 50  # a categorical feature with more distinct values is an error (one-hot would swamp the space)


@dataclass(frozen=True)
class FeatureColumns:
    """The columns a model uses: numeric ones, and categorical ones with their levels (one-hot encoded)."""

    numeric: list[str]
    levels: dict[str, list[str]] = field(default_factory=dict)

    @property
    def categorical(self) -> list[str]:
        return list(self.levels)

    @property
    def all(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    @property
    def vector_names(self) -> list[str]:
        """The feature of each slot of the model's vector (before PCA): ``column`` or ``column=level``."""
        onehot = [f"{c}={v}" for c, values in self.levels.items() for v in [*values, "missing"]]
        return [*self.numeric, *onehot]

    def source_of(self, slot_name: str) -> str:
        return slot_name.split("=", 1)[0]


def inspect_features(
    df: DataFrame, numeric: list[str], categorical: list[str]
) -> tuple[FeatureColumns, dict[str, str]]:
    """(usable columns with categorical levels, feature -> reason it was dropped), in one aggregation.

    A feature that is entirely null or constant carries no information and cannot be imputed (Spark's Imputer has
    no surrogate for an all-null column): it is dropped from the model rather than failing the run.
    """
    aggs = [F.count(F.lit(1)).alias("__rows")]
    aggs += [F.array_sort(F.collect_set(F.col(c).cast("string"))).alias(f"{c}__levels") for c in categorical]
    for c in numeric:
        value = F.col(c).cast("double")
        value = F.when(~F.isnan(value), value)
        aggs += [F.count(value).alias(f"{c}__n"), F.min(value).alias(f"{c}__min"), F.max(value).alias(f"{c}__max")]
    for c in categorical:
        value = F.col(c).cast("string")
        aggs += [F.count(value).alias(f"{c}__n"), F.min(value).alias(f"{c}__min"), F.max(value).alias(f"{c}__max")]
    row = first_row(df.agg(*aggs))
    reasons: dict[str, str] = {}
    for c in [*numeric, *categorical]:
        n, low, high = row[f"{c}__n"], row[f"{c}__min"], row[f"{c}__max"]
        if n == 0:
            reasons[c] = "all null"
        # A categorical with one value and some nulls still has two levels (value / missing); numeric nulls are
        # imputed with the single value, so that column is constant.
        elif low == high and (c not in categorical or n == row["__rows"]):
            reasons[c] = "constant"
    levels = {c: list(row[f"{c}__levels"]) for c in categorical if c not in reasons}
    too_many = {c: len(v) for c, v in levels.items() if len(v) > MAX_LEVELS}
    if too_many:
        raise ValueError(f"clustering.categorical_features with more than {MAX_LEVELS} levels: {too_many}")
    return FeatureColumns([c for c in numeric if c not in reasons], levels), reasons


def feature_space_stages(columns: FeatureColumns, cfg: ClusteringConfig) -> list:
    """Unfitted stages turning the feature table's columns into the ``features`` vector the clusterer uses."""
    stages: list = []
    source = {c: c for c in columns.numeric}
    if cfg.share_pseudo_count > 0:
        for count, shares in cfg.smoothed_shares.items():
            used = [c for c in shares if c in source]
            if used:
                outputs = [f"{c}__smoothed" for c in used]
                smoother = ShareSmoother(
                    inputCols=used, outputCols=outputs, countCol=count, pseudoCount=cfg.share_pseudo_count
                )
                stages.append(smoother)
                source |= dict(zip(used, outputs, strict=True))
    logged = set(cfg.log_features)

    def numeric(c: str) -> str:
        value = f"CAST(`{source[c]}` AS DOUBLE)"
        # A null stays null for the Imputer: greatest() skips nulls, so log1p(greatest(NULL, 0)) would be 0 (a
        # never-buyer's recency would read "bought today").
        return f"IF({value} IS NULL, NULL, log1p(greatest({value}, 0D)))" if c in logged else value

    casts = [f"{numeric(c)} AS `{c}__num`" for c in columns.numeric]
    casts += [f"CAST(`{c}` AS STRING) AS `{c}__str`" for c in columns.categorical]
    stages.append(SQLTransformer(statement=f"SELECT *, {', '.join(casts)} FROM __THIS__"))
    vector_inputs: list[str] = []
    if columns.numeric:
        imputed = [f"{c}__imputed" for c in columns.numeric]
        stages.append(Imputer(inputCols=[f"{c}__num" for c in columns.numeric], outputCols=imputed, strategy="median"))
        vector_inputs += imputed
    if columns.categorical:
        indexed = [f"{c}__idx" for c in columns.categorical]
        encoded = [f"{c}__onehot" for c in columns.categorical]
        # alphabetAsc: level order (and so the vector layout) does not depend on ties in frequencies. 'keep' gives
        # null its own level: having no value is itself informative (an anonymous visitor has no plan).
        stages.append(
            StringIndexer(
                inputCols=[f"{c}__str" for c in columns.categorical],
                outputCols=indexed,
                handleInvalid="keep",
                stringOrderType="alphabetAsc",
            )
        )
        # The indexer already maps null and unseen labels to its extra index; "keep" here would add a second slot.
        stages.append(OneHotEncoder(inputCols=indexed, outputCols=encoded, dropLast=False, handleInvalid="error"))
        vector_inputs += encoded
    stages.append(VectorAssembler(inputCols=vector_inputs, outputCol="features_raw", handleInvalid="keep"))
    # Not centred: BisectingKMeans splits a centre by a multiplicative perturbation, which cannot split a centre at
    # the origin. Translation changes no distance, so no KMeans/GMM fit; personas re-centre (see personas.py).
    if cfg.scaler == "robust":
        stages.append(RobustScaler(inputCol="features_raw", outputCol=SCALED_COL, withCentering=False))
    else:
        stages.append(StandardScaler(inputCol="features_raw", outputCol=SCALED_COL, withMean=False, withStd=True))
    current = SCALED_COL
    if any(w != 1.0 for w in cfg.feature_weights.values()):
        slots = columns.vector_names
        weights = Vectors.dense([float(cfg.feature_weights.get(columns.source_of(s), 1.0)) for s in slots])
        stages.append(ElementwiseProduct(scalingVec=weights, inputCol=current, outputCol="features_weighted"))
        current = "features_weighted"
    if cfg.pca_components:
        stages.append(PCA(k=cfg.pca_components, inputCol=current, outputCol=FEATURES_COL))
    else:
        stages.append(SQLTransformer(statement=f"SELECT *, `{current}` AS `{FEATURES_COL}` FROM __THIS__"))
    return stages
