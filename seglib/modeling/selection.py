"""Choosing the number of segments as a Spark ML Estimator: ``SegmentSelector`` -> ``SegmentSelectorModel``.

The k grid runs on a seeded sample of ``sampleSize`` rows; every k is fitted with ``seedsPerK`` seeds (best kept) and
scored by criteria that do not favour small k: BIC (GMM), stability (mean pairwise ARI of fits on random
subsamples, predicted on the whole sample), silhouette on a sample and the elbow knee of the cost curve. Stability
costs ``stabilityResamples`` extra fits per k, so the grid computes it only when it is the criterion; otherwise it is
computed for the chosen k alone (a diagnostic the champion gate can use). The grid's fits, one per (k, seed), run
``parallelism`` at a time (Spark jobs from driver threads, as ``CrossValidator`` does): on a small sample a fit is
mostly per-job latency, which concurrent jobs overlap. Every fit is seeded, so the result does not depend on the
order the threads finish in. The chosen k is refitted on all rows (unless the sample already is every row). The
model wraps that clustering model and its selection summary; both save and load with the enclosing PipelineModel.

With ``selectionMinEigenvalue`` > 0 the grid runs in a reduced space (the sample's principal components whose
covariance eigenvalue exceeds it) and the chosen k is then fitted in the full space; k-means refines the chosen
partition there (seglib.modeling.centroids). Measured on ten planted worlds (benchmarks/results/latest-worlds.md):
median ARI 0.610 -> 0.736, k exact on 2 -> 4 of 10, the demo's world unchanged.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from pyspark import keyword_only
from pyspark.ml import Estimator, Model
from pyspark.ml.clustering import (
    BisectingKMeans,
    BisectingKMeansModel,
    GaussianMixture,
    GaussianMixtureModel,
    KMeans,
    KMeansModel,
)
from pyspark.ml.feature import PCA
from pyspark.ml.functions import vector_to_array
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasFeaturesCol, HasMaxIter, HasPredictionCol, HasProbabilityCol, HasSeed
from pyspark.ml.stat import Summarizer
from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReadable, MLReader, MLWritable, MLWriter
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from seglib.frames import first_row
from seglib.modeling.centroids import NearestCentroidModel, lloyd, partition_means
from seglib.modeling.metrics import adjusted_rand_index
from seglib.modeling.row_order import canonical_order

log = logging.getLogger(__name__)

ClusteringModel = KMeansModel | BisectingKMeansModel | GaussianMixtureModel  # what the k grid fits
ALGORITHMS: dict[str, tuple[type[KMeans | BisectingKMeans | GaussianMixture], type[ClusteringModel]]] = {
    "kmeans": (KMeans, KMeansModel),
    "bisecting_kmeans": (BisectingKMeans, BisectingKMeansModel),
    "gmm": (GaussianMixture, GaussianMixtureModel),
}
CRITERIA = ("auto", "bic", "stability", "silhouette")
SAMPLE_ROWS_PER_PARTITION = 100_000  # the k grid's sample is split in partitions of about this many rows
SELECTION_SPACE_COL = "_selection_space"  # the sample's reduced vectors the k grid runs on (selectionMinEigenvalue)


@dataclass
class Candidate:
    """Metrics of one k of the grid (on the sample)."""

    k: int
    seed: int  # the seed of the best of the seedsPerK fits
    cost: float  # within-cluster sum of squares (KMeans family) or -log-likelihood (GMM)
    silhouette: float  # mean of the points' silhouettes (squared Euclidean, as Spark's ClusteringEvaluator)
    stability: float | None  # mean pairwise ARI of fits on subsamples (1.0 = the same partition); None: not computed
    bic: float | None = None  # GMM only
    min_share: float = 0.0  # share of the smallest cluster
    silhouette_se: float = 0.0  # standard error of that mean (std of the points' silhouettes / sqrt(points))


@dataclass
class SelectionSummary:
    """Every candidate's metrics and why the chosen k won: logged with the run."""

    chosen_k: int
    criterion: str
    reason: str
    sample_rows: int
    candidates: list[Candidate] = field(default_factory=list)
    elbow_k: int | None = None
    space: str = "full space"  # where the candidates were fitted and scored
    final_silhouette: float | None = None  # the final model's, in the full space, when k was chosen in a reduced one

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SelectionSummary:
        return cls(**{**data, "candidates": [Candidate(**c) for c in data.get("candidates", [])]})

    def by_k(self, metric: str) -> dict[int, float]:
        return {c.k: getattr(c, metric) for c in self.candidates if getattr(c, metric) is not None}


class _SelectorParams(HasFeaturesCol, HasPredictionCol, HasProbabilityCol, HasSeed, HasMaxIter):
    algorithm: Param[str] = Param(
        Params._dummy(), "algorithm", "kmeans, bisecting_kmeans or gmm", TypeConverters.toString
    )
    kMin: Param[int] = Param(Params._dummy(), "kMin", "smallest k of the grid", TypeConverters.toInt)
    kMax: Param[int] = Param(Params._dummy(), "kMax", "largest k of the grid", TypeConverters.toInt)
    seedsPerK: Param[int] = Param(
        Params._dummy(), "seedsPerK", "fits per k with different seeds; the best is kept", TypeConverters.toInt
    )
    sampleSize: Param[int] = Param(
        Params._dummy(), "sampleSize", "rows (approximately) the k grid is fitted on", TypeConverters.toInt
    )
    stabilityResamples: Param[int] = Param(
        Params._dummy(), "stabilityResamples", "subsample fits per k for the stability score", TypeConverters.toInt
    )
    stabilityFraction: Param[float] = Param(
        Params._dummy(), "stabilityFraction", "share of the sample in each stability fit", TypeConverters.toFloat
    )
    silhouetteSampleSize: Param[int] = Param(
        Params._dummy(), "silhouetteSampleSize", "rows the silhouette is computed on", TypeConverters.toInt
    )
    criterion: Param[str] = Param(
        Params._dummy(), "criterion", "auto (bic for gmm, else stability), bic, stability or silhouette",
        TypeConverters.toString,
    )  # fmt: skip
    stabilityThreshold: Param[float] = Param(
        Params._dummy(),
        "stabilityThreshold",
        "stability criterion: the largest k whose stability reaches this is chosen",
        TypeConverters.toFloat,
    )
    silhouetteToleranceSE: Param[float] = Param(
        Params._dummy(),
        "silhouetteToleranceSE",
        "silhouette criterion: the smallest k whose silhouette is within this many standard errors of the best wins",
        TypeConverters.toFloat,
    )
    minClusterShare: Param[float] = Param(
        Params._dummy(),
        "minClusterShare",
        "candidates with a cluster below this share of the sample are not chosen",
        TypeConverters.toFloat,
    )
    parallelism: Param[int] = Param(
        Params._dummy(), "parallelism", "fits (one per k and seed) run concurrently", TypeConverters.toInt
    )
    selectionMinEigenvalue: Param[float] = Param(
        Params._dummy(),
        "selectionMinEigenvalue",
        "> 0: choose k on the principal components whose covariance eigenvalue exceeds this (at least 2), then fit "
        "the chosen k in the full space (k-means: from the chosen partition's means); 0: choose k in the full space",
        TypeConverters.toFloat,
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._setDefault(
            featuresCol="features",
            predictionCol="cluster_id",
            probabilityCol="cluster_probability_vector",
            seed=7,
            maxIter=50,
            algorithm="gmm",
            kMin=2,
            kMax=10,
            seedsPerK=3,
            sampleSize=20000,
            stabilityResamples=3,
            stabilityFraction=0.8,
            silhouetteSampleSize=5000,
            criterion="auto",
            stabilityThreshold=0.9,
            silhouetteToleranceSE=1.0,
            minClusterShare=0.01,
            parallelism=2,
            selectionMinEigenvalue=0.0,
        )

    def getAlgorithm(self) -> str:
        return self.getOrDefault(self.algorithm)

    def getCriterion(self) -> str:
        crit = self.getOrDefault(self.criterion)
        if crit == "auto":
            return "bic" if self.getAlgorithm() == "gmm" else "stability"
        return crit


class SegmentSelector(Estimator, _SelectorParams, MLReadable, MLWritable):
    """Fits the k grid on a sample, chooses k, refits it on all rows: ``fit`` returns a ``SegmentSelectorModel``."""

    _input_kwargs: dict[str, Any]  # set by @keyword_only (pyspark's own estimators declare it the same way)

    @keyword_only
    def __init__(
        self,
        *,
        featuresCol: str = "features",
        predictionCol: str = "cluster_id",
        probabilityCol: str = "cluster_probability_vector",
        seed: int = 7,
        maxIter: int = 50,
        algorithm: str = "gmm",
        kMin: int = 2,
        kMax: int = 10,
        seedsPerK: int = 3,
        sampleSize: int = 20000,
        stabilityResamples: int = 3,
        stabilityFraction: float = 0.8,
        silhouetteSampleSize: int = 5000,
        criterion: str = "auto",
        stabilityThreshold: float = 0.9,
        silhouetteToleranceSE: float = 1.0,
        minClusterShare: float = 0.01,
        parallelism: int = 2,
        selectionMinEigenvalue: float = 0.0,
    ) -> None:
        super().__init__()
        self._set(**self._input_kwargs)

    def write(self) -> MLWriter:
        return DefaultParamsWriter(self)

    @classmethod
    def read(cls) -> MLReader:
        # The stub asks for a DefaultParamsReadable class; the reader only needs a Params class with a no-argument
        # constructor, which this is (it does not mix in DefaultParamsReadable, as it defines read/write itself).
        return DefaultParamsReader(cls)  # type: ignore[arg-type]

    def _validate(self) -> None:
        if self.getAlgorithm() not in ALGORITHMS:
            raise ValueError(f"SegmentSelector.algorithm must be one of {sorted(ALGORITHMS)}: {self.getAlgorithm()}")
        if self.getOrDefault(self.criterion) not in CRITERIA:
            raise ValueError(f"SegmentSelector.criterion must be one of {CRITERIA}")
        if self.getCriterion() == "bic" and self.getAlgorithm() != "gmm":
            raise ValueError("SegmentSelector.criterion=bic needs algorithm=gmm (KMeans has no likelihood)")
        if not 2 <= self.getOrDefault(self.kMin) <= self.getOrDefault(self.kMax):
            raise ValueError("SegmentSelector needs 2 <= kMin <= kMax")
        if self.getCriterion() == "stability" and self.getOrDefault(self.stabilityResamples) < 2:
            raise ValueError("SegmentSelector.criterion=stability needs stabilityResamples >= 2")
        if self.getOrDefault(self.parallelism) < 1:
            raise ValueError("SegmentSelector.parallelism must be >= 1")

    def _clusterer(
        self,
        k: int,
        seed: int,
        prediction_col: str,
        probability_col: str | None = None,
        features_col: str | None = None,
    ):
        estimator_cls = ALGORITHMS[self.getAlgorithm()][0]
        kwargs: dict[str, Any] = {
            "k": k,
            "seed": seed,
            "maxIter": self.getMaxIter(),
            "featuresCol": features_col or self.getFeaturesCol(),
            "predictionCol": prediction_col,
        }
        if self.getAlgorithm() == "gmm":
            kwargs["probabilityCol"] = probability_col or f"{prediction_col}__probability"
        return estimator_cls(**kwargs)

    def _seeds(self) -> list[int]:
        base = self.getSeed()
        return [base + 7919 * i for i in range(self.getOrDefault(self.seedsPerK))]

    def _best_fits(
        self,
        pool: ThreadPoolExecutor,
        data: DataFrame,
        ks: Sequence[int],
        prediction_col: str,
        probability_col: str | None = None,
        features_col: str | None = None,
    ) -> dict[int, tuple[ClusteringModel, int, float]]:
        """k -> the best of its ``seedsPerK`` fits (lowest cost; ties: the earlier seed): (model, seed, cost).

        Every (k, seed) fit is a task of ``pool``, so fits of one k overlap too, and a slow k does not hold a thread
        while others wait. The result does not depend on the order they finish in.
        """
        seeds = self._seeds()
        tasks = [(k, seed) for k in ks for seed in seeds]

        def fit(task: tuple[int, int]) -> tuple[ClusteringModel, float]:
            model = self._clusterer(task[0], task[1], prediction_col, probability_col, features_col).fit(data)
            return model, model_cost(model)

        best: dict[int, tuple[ClusteringModel, int, float]] = {}
        for (k, seed), (model, cost) in zip(tasks, pool.map(fit, tasks), strict=True):
            if k not in best or cost < best[k][2]:
                best[k] = (model, seed, cost)
        return best

    def _stability(self, sample: DataFrame, k: int, features_col: str) -> float | None:
        resamples = self.getOrDefault(self.stabilityResamples)
        if resamples < 2:
            return None
        fraction = self.getOrDefault(self.stabilityFraction)
        labelled = sample
        cols = []
        for r in range(resamples):
            col = f"_stability_{r}"
            subsample = sample.sample(withReplacement=False, fraction=fraction, seed=self.getSeed() + 104729 * (r + 1))
            model = self._clusterer(k, self.getSeed() + r, col, features_col=features_col).fit(subsample)
            labelled = model.transform(labelled).select(*labelled.columns, col)
            cols.append(col)
        scores = [adjusted_rand_index(labelled, a, b) for i, a in enumerate(cols) for b in cols[i + 1 :]]
        return sum(scores) / len(scores)

    def _silhouette(self, scored: DataFrame, prediction_col: str, rows: int, features_col: str) -> tuple[float, float]:
        """(mean silhouette, its standard error) on a seeded sample of ``silhouetteSampleSize`` rows."""
        size = self.getOrDefault(self.silhouetteSampleSize)
        subset = scored.sample(False, min(1.0, size / rows), self.getSeed()) if rows > size else scored
        return silhouette_with_se(subset, features_col, prediction_col)

    def _fit(self, dataset: DataFrame) -> SegmentSelectorModel:
        self._validate()
        # Cached because the sample and each of the seedsPerK refits scan all rows again (through the feature-space
        # transforms and the canonical shuffle).
        vectors = dataset.select(self.getFeaturesCol(), vector_to_array(F.col(self.getFeaturesCol())).alias("_values"))
        data = canonical_order(vectors, ["_values"]).drop("_values").cache()
        try:
            return self._select_and_refit(data)
        finally:
            data.unpersist()

    def _select_and_refit(self, data: DataFrame) -> SegmentSelectorModel:
        rows = data.count()
        size = self.getOrDefault(self.sampleSize)
        sample = data.sample(False, min(1.0, size / rows), self.getSeed()) if rows > size else data
        # Few partitions (coalescing keeps the canonical order): the grid's fits run one job per iteration, and on a
        # small sample every extra task of those jobs is pure overhead (the bench's 20,000-row sample in 14 shuffle
        # partitions took 110 s for the grid, in one partition 43 s). Cached: every k, seed and resample scans it again.
        base = sample.coalesce(max(1, math.ceil(min(rows, size) / SAMPLE_ROWS_PER_PARTITION))).cache()
        sample, space = self._selection_space(base)
        grid_col = SELECTION_SPACE_COL if space.reduced else self.getFeaturesCol()
        final: Model | None = None
        try:
            sample_rows = sample.count()
            dims = len(first_row(sample)[grid_col])
            grid = list(self._grid(sample_rows))
            with ThreadPoolExecutor(max_workers=self.getOrDefault(self.parallelism)) as pool:
                best_fits = self._best_fits(pool, sample, grid, "_grid_cluster", features_col=grid_col)
                candidates = list(
                    pool.map(lambda k: self._candidate(sample, k, best_fits[k], sample_rows, dims, grid_col), grid)
                )
            for candidate in candidates:
                log.info("k=%d %s", candidate.k, json.dumps(_rounded(candidate)))
            chosen, reason = choose_k(
                candidates,
                self.getCriterion(),
                self.getOrDefault(self.stabilityThreshold),
                self.getOrDefault(self.minClusterShare),
                self.getOrDefault(self.silhouetteToleranceSE),
            )
            best = next(c for c in candidates if c.k == chosen)
            if best.stability is None:
                best.stability = self._stability(sample, chosen, grid_col)
            if space.reduced:
                final = self._fit_in_full_space(data, rows, sample, best_fits[chosen][0], chosen)
                # The published model's own silhouette, in the space it assigns in (the grid's are in the reduced one).
                space.final_silhouette = self._silhouette(
                    final.transform(base), self.getPredictionCol(), sample_rows, self.getFeaturesCol()
                )[0]
        finally:
            sample.unpersist()
            base.unpersist()
        summary = SelectionSummary(
            chosen_k=chosen,
            criterion=self.getCriterion(),
            reason=reason,
            sample_rows=sample_rows,
            candidates=candidates,
            elbow_k=elbow_knee({c.k: c.cost for c in candidates}),
            space=space.description,
            final_silhouette=space.final_silhouette,
        )
        log.info("k selection (%s): %s", space.description, reason)
        if final is None and sample_rows == rows:
            # The grid already fitted every row: its best fit of the chosen k is the final model (a refit would only
            # repeat it, and on another partitioning could land in another local optimum than the one scored).
            grid_fit = best_fits[chosen][0]
            grid_fit.setPredictionCol(self.getPredictionCol())
            if isinstance(grid_fit, GaussianMixtureModel):  # algorithm gmm
                grid_fit.setProbabilityCol(self.getProbabilityCol())
            final = grid_fit
            log.info("k=%d fitted on all %d rows in the grid (seed %d)", chosen, rows, best.seed)
        elif final is None:
            final = self._refit(data, rows, chosen)
        model = SegmentSelectorModel(final, summary)
        return self._copyValues(model)

    def _refit(self, data: DataFrame, rows: int, k: int) -> Model:
        """The best of ``seedsPerK`` fits of ``k`` on all rows, in the full space."""
        with ThreadPoolExecutor(max_workers=self.getOrDefault(self.parallelism)) as pool:
            fits = self._best_fits(pool, data, [k], self.getPredictionCol(), self.getProbabilityCol())
        final, seed, _ = fits[k]
        log.info("fitted k=%d on %d rows in the full space (seed %d)", k, rows, seed)
        return final

    def _selection_space(self, sample: DataFrame) -> tuple[DataFrame, _SelectionSpace]:
        """The sample with its principal components whose eigenvalue exceeds ``selectionMinEigenvalue`` (>= 2 of
        them) in ``SELECTION_SPACE_COL``, or the sample unchanged (the full space) when that is off or would not
        reduce the dimensions.

        Why: the silhouette of k-means in a space of many weak or noisy directions favours small k (every extra
        direction adds the same within-cluster spread to all k); the leading components hold the structure shared
        by several features, where segments live.
        """
        threshold = self.getOrDefault(self.selectionMinEigenvalue)
        features = self.getFeaturesCol()
        dims = len(first_row(sample)[features])
        if threshold <= 0 or dims <= 2:
            return sample, _SelectionSpace(f"full space, {dims} dimensions")
        total = float(sum(first_row(sample.select(Summarizer.variance(F.col(features)).alias("v")))["v"]))
        shares = PCA(k=dims, inputCol=features, outputCol=SELECTION_SPACE_COL).fit(sample).explainedVariance
        eigenvalues = [float(share) * total for share in shares.toArray()]
        kept = max(2, sum(1 for e in eigenvalues if e > threshold))
        description = (
            f"{kept} principal components of {dims} dimensions (eigenvalue > {threshold:g}: "
            f"{', '.join(f'{e:.2f}' for e in eigenvalues[:kept])})"
        )
        if kept >= dims:
            return sample, _SelectionSpace(f"full space, {dims} dimensions (every component above {threshold:g})")
        pca = PCA(k=kept, inputCol=features, outputCol=SELECTION_SPACE_COL).fit(sample)
        return pca.transform(sample).cache(), _SelectionSpace(description, reduced=True)

    def _fit_in_full_space(self, data: DataFrame, rows: int, sample: DataFrame, grid_model: Model, k: int) -> Model:
        """The chosen k in the full space: k-means refines the chosen partition (Lloyd's iterations from its means
        on all rows); the other algorithms are refitted with k."""
        if self.getAlgorithm() != "kmeans":
            return self._refit(data, rows, k)
        labelled = grid_model.transform(sample)
        start = partition_means(labelled, self.getFeaturesCol(), "_grid_cluster", k)
        centres, cost, iterations = lloyd(data, self.getFeaturesCol(), start, self.getMaxIter())
        log.info("k=%d refined in the full space on all rows from the chosen partition: %d iterations", k, iterations)
        return NearestCentroidModel(
            centres=centres,
            featuresCol=self.getFeaturesCol(),
            predictionCol=self.getPredictionCol(),
            trainingCost=cost,
        )

    def _grid(self, rows: int) -> range:
        k_max = min(self.getOrDefault(self.kMax), max(self.getOrDefault(self.kMin), rows - 1))
        return range(self.getOrDefault(self.kMin), k_max + 1)

    def _candidate(
        self, sample: DataFrame, k: int, best_fit: tuple[Model, int, float], rows: int, dims: int, features_col: str
    ) -> Candidate:
        model, seed, cost = best_fit
        scored = model.transform(sample)
        sizes = [r["count"] for r in scored.groupBy("_grid_cluster").count().collect()]
        silhouette, silhouette_se = self._silhouette(scored, "_grid_cluster", rows, features_col)
        candidate = Candidate(
            k=k,
            seed=seed,
            cost=cost,
            silhouette=silhouette,
            silhouette_se=silhouette_se,
            stability=self._stability(sample, k, features_col) if self.getCriterion() == "stability" else None,
            bic=gmm_bic(cost, k, dims, rows) if self.getAlgorithm() == "gmm" else None,
            min_share=(min(sizes) / rows if len(sizes) == k else 0.0),
        )
        return candidate


@dataclass
class _SelectionSpace:
    description: str
    reduced: bool = False
    final_silhouette: float | None = None


def _rounded(candidate: Candidate) -> dict[str, float]:
    return {m: round(v, 4) for m, v in asdict(candidate).items() if v is not None}


def model_cost(model) -> float:
    """Within-cluster sum of squares (KMeans, BisectingKMeans) or the negative log-likelihood (GMM)."""
    summary = model.summary
    if hasattr(summary, "logLikelihood"):
        return -float(summary.logLikelihood)
    return float(summary.trainingCost)


def gmm_bic(neg_log_likelihood: float, k: int, dims: int, rows: int) -> float:
    """Bayesian information criterion of a full-covariance Gaussian mixture (lower is better)."""
    params = (k - 1) + k * dims + k * dims * (dims + 1) / 2
    return 2.0 * neg_log_likelihood + params * math.log(rows)


def elbow_knee(cost_by_k: dict[int, float]) -> int | None:
    """Kneedle: the k farthest below the straight line joining the first and last points of the cost curve."""
    ks = sorted(cost_by_k)
    if len(ks) < 3:
        return None
    (k0, c0), (k1, c1) = (ks[0], cost_by_k[ks[0]]), (ks[-1], cost_by_k[ks[-1]])
    if c0 == c1:
        return None

    def gap(k: int) -> float:
        line = c0 + (c1 - c0) * (k - k0) / (k1 - k0)
        return (line - cost_by_k[k]) / abs(c0 - c1)

    return max(ks[1:-1], key=gap)


def choose_k(
    candidates: list[Candidate],
    criterion: str,
    stability_threshold: float,
    min_share: float,
    silhouette_tolerance_se: float = 0.0,
) -> tuple[int, str]:
    """(chosen k, one-line reason). Candidates with a cluster below ``min_share`` are skipped when others exist.

    silhouette: the highest silhouette wins unless a smaller k is within ``silhouette_tolerance_se`` standard errors
    of it (the one-standard-error rule): a difference the sample cannot resolve does not buy an extra segment.
    """
    eligible = [c for c in candidates if c.min_share >= min_share] or candidates
    skipped = sorted({c.k for c in candidates} - {c.k for c in eligible})
    note = f"; skipped k={skipped} (a cluster below {min_share:.1%} of the sample)" if skipped else ""
    if criterion == "bic":
        best = min(eligible, key=lambda c: (c.bic, c.k))
        return best.k, f"k={best.k}: lowest BIC ({best.bic:.1f}) of a GMM on the sample{note}"
    if criterion == "silhouette":
        best = max(eligible, key=lambda c: (round(c.silhouette, 6), -c.k))
        floor = best.silhouette - silhouette_tolerance_se * best.silhouette_se
        chosen = min((c for c in eligible if c.silhouette >= floor), key=lambda c: c.k)
        if chosen.k == best.k:
            return best.k, f"k={best.k}: highest silhouette ({best.silhouette:.3f} ± {best.silhouette_se:.3f}){note}"
        return chosen.k, (
            f"k={chosen.k}: smallest k whose silhouette ({chosen.silhouette:.3f}) is within "
            f"{silhouette_tolerance_se:g} standard error of the highest (k={best.k}: {best.silhouette:.3f} ± "
            f"{best.silhouette_se:.3f}){note}"
        )
    stable = [c for c in eligible if c.stability is not None and c.stability >= stability_threshold]
    if stable:
        best = max(stable, key=lambda c: c.k)
        return best.k, (
            f"k={best.k}: largest k whose stability (mean pairwise ARI over subsamples) is "
            f">= {stability_threshold} ({best.stability:.3f}){note}"
        )
    best = max(eligible, key=lambda c: (c.stability, -c.k))
    return best.k, f"k={best.k}: most stable k ({best.stability:.3f}); none reached {stability_threshold}{note}"


def silhouette_with_se(scored: DataFrame, features_col: str, prediction_col: str) -> tuple[float, float]:
    """(mean silhouette, standard error of the mean) with squared Euclidean distances, in Spark SQL.

    The same definition as Spark's ``ClusteringEvaluator`` (whose mean this reproduces): a point's mean squared
    distance to a cluster follows from the cluster's size, vector sum and sum of squared norms (one aggregation,
    k small rows to the driver); each point's silhouette is a SQL expression (no Python UDF), and the mean and the
    standard deviation are aggregated in Spark. Nothing per subject reaches the driver.
    """
    x = vector_to_array(F.col(features_col))
    c = F.col(prediction_col).cast("int")
    stats = (
        scored.select(c.alias("c"), F.col(features_col).alias("v"), x.alias("x"))
        .groupBy("c")
        .agg(
            F.count(F.lit(1)).alias("n"),
            Summarizer.sum(F.col("v")).alias("sum"),
            F.sum(F.aggregate("x", F.lit(0.0), lambda acc, v: acc + v * v)).alias("sq"),
        )
        .orderBy("c")
        .collect()
    )
    if len(stats) < 2:
        return 0.0, 0.0

    def dot(values) -> F.Column:
        weights = F.array(*[F.lit(float(w)) for w in values])
        return F.aggregate(F.zip_with(F.col("x"), weights, lambda a, b: a * b), F.lit(0.0), lambda acc, v: acc + v)

    norm = F.aggregate("x", F.lit(0.0), lambda acc, v: acc + v * v)
    # mean squared distance of the point to each cluster: |x|^2 - 2 x.sum/n + sq/n
    dists = [norm - 2.0 * dot(r["sum"].toArray()) / r["n"] + F.lit(r["sq"] / r["n"]) for r in stats]
    with_d = scored.select(x.alias("x"), c.alias("c")).select("c", *[d.alias(f"d{i}") for i, d in enumerate(dists)])
    own = F.coalesce(*[F.when(F.col("c") == r["c"], F.col(f"d{i}")) for i, r in enumerate(stats)])
    own_n = F.coalesce(*[F.when(F.col("c") == r["c"], F.lit(float(r["n"]))) for r in stats])
    a = F.when(own_n > 1, own * own_n / (own_n - 1)).otherwise(F.lit(0.0))
    b = F.least(*[F.when(F.col("c") != r["c"], F.col(f"d{i}")) for i, r in enumerate(stats)])
    point = F.when(own_n <= 1, F.lit(0.0)).when(a < b, 1.0 - a / b).when(a > b, b / a - 1.0).otherwise(F.lit(0.0))
    row = first_row(
        with_d.select(point.alias("s")).agg(
            F.avg("s").alias("mean"), F.stddev_samp("s").alias("sd"), F.count("s").alias("n")
        )
    )
    se = (row["sd"] or 0.0) / math.sqrt(row["n"]) if row["n"] else 0.0
    return float(row["mean"]), float(se)


class SegmentSelectorModel(Model, _SelectorParams, MLReadable, MLWritable):
    """The clustering model of the chosen k (``clusterer``) plus the ``selection`` summary."""

    def __init__(self, clusterer=None, selection: SelectionSummary | None = None) -> None:
        super().__init__()
        self.clusterer = clusterer
        self.selection = selection

    @property
    def k(self) -> int:
        return self.selection_summary().chosen_k

    def selection_summary(self) -> SelectionSummary:
        """``selection``, which a fitted or loaded model always has."""
        if self.selection is None:
            raise ValueError("this SegmentSelectorModel has no selection summary")
        return self.selection

    def _transform(self, dataset: DataFrame) -> DataFrame:
        return self.clusterer.transform(dataset)

    def write(self) -> MLWriter:
        return _SelectorModelWriter(self)

    @classmethod
    def read(cls) -> MLReader:
        return _SelectorModelReader(cls)


class _SelectorModelWriter(MLWriter):
    def __init__(self, instance: SegmentSelectorModel) -> None:
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        extra = {
            "selection": self.instance.selection_summary().to_dict(),
            "clusterer_class": type(self.instance.clusterer).__name__,
        }
        # The SparkContext: Spark 3.5 takes only that; Spark 4 takes it or a session.
        DefaultParamsWriter.saveMetadata(self.instance, path, self.sc, extraMetadata=extra)
        self.instance.clusterer.save(os.path.join(path, "clusterer"))


class _SelectorModelReader(MLReader):
    def __init__(self, cls: type[SegmentSelectorModel]) -> None:
        super().__init__()
        self.cls = cls

    def load(self, path: str) -> SegmentSelectorModel:
        metadata = DefaultParamsReader.loadMetadata(path, self.sc)
        instance = self.cls(selection=SelectionSummary.from_dict(metadata["selection"]))
        instance._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(instance, metadata)
        # Older saves have no clusterer_class: the algorithm's own model.
        loader: type[NearestCentroidModel | ClusteringModel]
        if metadata.get("clusterer_class") == NearestCentroidModel.__name__:
            loader = NearestCentroidModel
        else:
            loader = ALGORITHMS[instance.getAlgorithm()][1]
        instance.clusterer = loader.load(os.path.join(path, "clusterer"))
        return instance
