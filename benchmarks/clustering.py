"""Clustering benchmark: seglib's k selection + final fit (Spark ML) vs scikit-learn KMeans on the same matrix.

The matrix is synthetic and generated directly in Spark (not through the event generator): ``--cluster-rows``
subjects x ``--cluster-dims`` features drawn around ``--cluster-blobs`` planted centres (seeded), so the planted
truth is known per row. Both engines follow the same protocol:

1. a seeded random sample of ``clustering.sample_size`` rows;
2. for every k in ``[k_min, k_max]``: ``seeds_per_k`` KMeans fits on the sample (lowest cost kept), silhouette
   (squared Euclidean, as Spark's ClusteringEvaluator) and its standard error on ``silhouette_sample_size`` rows;
3. k = the smallest k within ``silhouette_tolerance_se`` standard errors of the highest silhouette (0 by default:
   the highest), among the k whose smallest cluster holds at least ``min_cluster_share`` of the sample;
4. the chosen k refitted on all rows (``seeds_per_k`` fits, lowest cost kept) and every row assigned.

The matrix is already numeric and scaled, so only the selection is compared, not seglib's feature-space stages.

Spark runs ``SegmentSelector`` (seglib's estimator) with the stability score switched off
(``stabilityResamples=0``: the silhouette criterion does not use it, and scikit-learn has no counterpart); its time
includes assigning every row. scikit-learn gets the matrix as a NumPy array (the export is not timed) and uses all
cores (``KMeans`` is OpenMP-parallel). ARIs of both against the planted blobs are computed in the same way.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import argparse

    from pyspark.sql import DataFrame, SparkSession

    from seglib.config import SeglibConfig

log = logging.getLogger("benchmarks.clustering")

SPARK_VS_SKLEARN_TARGET = 5.0


def planted_centres(blobs: int, dims: int, seed: int, spread: float) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, spread, size=(blobs, dims))


def _uniform(seed: int, *cols):
    """A deterministic uniform in (0, 1) from a hash of the row's id (and a stream number): no rand() expression,
    so the optimizer cannot re-evaluate it differently for the label and the features, and any partitioning gives
    the same matrix."""
    from pyspark.sql import functions as F

    bits = F.pmod(F.xxhash64(F.lit(seed), *cols), F.lit(1 << 31)).cast("double")
    return (bits + 0.5) / float(1 << 31)


def blob_matrix(spark: SparkSession, rows: int, dims: int, blobs: int, seed: int, spread: float) -> DataFrame:
    """id, blob (the planted truth), features (vector): unit-variance Gaussian blobs around seeded centres."""
    import math

    from pyspark.ml.functions import array_to_vector
    from pyspark.sql import functions as F

    centres = planted_centres(blobs, dims, seed, spread)
    # Unequal shares (1 : 2 : ... : blobs, normalised) so the smallest blob is not an easy equal split.
    weights = np.arange(1, blobs + 1, dtype=float)
    cumulative = np.cumsum(weights / weights.sum())
    u = F.col("u")
    blob = F.lit(blobs - 1)
    for b in range(blobs - 2, -1, -1):
        blob = F.when(u < float(cumulative[b]), F.lit(b)).otherwise(blob)
    df = spark.range(rows).withColumn("u", _uniform(seed, F.col("id"), F.lit(-1))).withColumn("blob", blob)
    centre = F.array(*[F.lit(float(v)) for v in centres.ravel()])

    def normal(j: int):  # Box-Muller from two hashed uniforms
        u1, u2 = _uniform(seed, F.col("id"), F.lit(2 * j)), _uniform(seed, F.col("id"), F.lit(2 * j + 1))
        return F.sqrt(-2.0 * F.log(u1)) * F.cos(2.0 * math.pi * u2)

    values = [F.element_at(centre, F.col("blob") * dims + (j + 1)) + normal(j) for j in range(dims)]
    return df.select("id", "blob", array_to_vector(F.array(*values)).alias("features"))


def sklearn_select_and_fit(x: np.ndarray, cfg: Any, seed: int) -> tuple[int, np.ndarray, list[dict]]:
    """The same protocol as SegmentSelector(criterion=silhouette), in scikit-learn: (k, labels, candidates)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_samples

    rng = np.random.default_rng(seed)
    sample = x[rng.choice(len(x), size=min(cfg.sample_size, len(x)), replace=False)]
    sil_rows = sample[rng.choice(len(sample), size=min(cfg.silhouette_sample_size, len(sample)), replace=False)]
    candidates = []
    for k in range(cfg.k_min, cfg.k_max + 1):
        model = KMeans(k, n_init=cfg.seeds_per_k, max_iter=cfg.max_iter, random_state=seed).fit(sample)
        s = silhouette_samples(sil_rows, model.predict(sil_rows), metric="sqeuclidean")
        min_share = np.bincount(model.labels_, minlength=k).min() / len(sample)
        se = float(s.std(ddof=1) / np.sqrt(len(s)))
        candidates.append({"k": k, "silhouette": float(s.mean()), "se": se, "min_share": float(min_share)})
    eligible = [c for c in candidates if c["min_share"] >= cfg.min_cluster_share] or candidates
    best = max(eligible, key=lambda c: c["silhouette"])
    floor = best["silhouette"] - cfg.silhouette_tolerance_se * best["se"]
    k = min(c["k"] for c in eligible if c["silhouette"] >= floor)
    final = KMeans(k, n_init=cfg.seeds_per_k, max_iter=cfg.max_iter, random_state=seed).fit(x)
    return k, final.labels_, candidates


def _spark_run(data: DataFrame, cfg: Any) -> tuple[float, int, float, Any]:
    """(seconds, chosen k, ARI vs the blobs, selection) of SegmentSelector fit + assignment of every row."""
    from seglib.modeling.metrics import adjusted_rand_index
    from seglib.modeling.selection import SegmentSelector

    selector = SegmentSelector(
        featuresCol="features",
        predictionCol="cluster_id",
        seed=cfg.seed,
        maxIter=cfg.max_iter,
        algorithm="kmeans",
        kMin=cfg.k_min,
        kMax=cfg.k_max,
        seedsPerK=cfg.seeds_per_k,
        sampleSize=cfg.sample_size,
        stabilityResamples=0,
        silhouetteSampleSize=cfg.silhouette_sample_size,
        criterion="silhouette",
        silhouetteToleranceSE=cfg.silhouette_tolerance_se,
        minClusterShare=cfg.min_cluster_share,
        parallelism=cfg.parallelism,
    )
    start = time.perf_counter()
    model = selector.fit(data)
    assigned = model.transform(data).select("blob", "cluster_id").cache()
    assigned.count()
    seconds = time.perf_counter() - start
    ari = adjusted_rand_index(assigned, "cluster_id", "blob")
    assigned.unpersist()
    return seconds, model.k, ari, model.selection


def bench_clustering(spark: SparkSession, cfg: SeglibConfig, args: argparse.Namespace, phases: Any) -> dict[str, Any]:
    """k selection + final fit at ``--cluster-rows`` (and twice that unless --skip-2n): Spark vs scikit-learn."""
    from sklearn.metrics import adjusted_rand_score

    ccfg = cfg.clustering
    out: dict[str, Any] = {
        "cluster_dims": args.cluster_dims,
        "cluster_blobs": args.cluster_blobs,
        "cluster_grid": f"{ccfg.k_min}..{ccfg.k_max}",
        "cluster_sample_size": ccfg.sample_size,
        "cluster_seeds_per_k": ccfg.seeds_per_k,
        "cluster_tolerance_se": ccfg.silhouette_tolerance_se,
        "cluster_min_share": ccfg.min_cluster_share,
    }
    sizes = [args.cluster_rows] + ([] if args.skip_2n else [2 * args.cluster_rows])
    for i, rows in enumerate(sizes):
        tag = "n" if i == 0 else "2n"
        data = blob_matrix(spark, rows, args.cluster_dims, args.cluster_blobs, ccfg.seed, args.cluster_spread)
        # Materialised once (untimed) so neither engine is charged for generating the matrix.
        data = data.cache()
        data.count()
        with phases.timed(f"clustering spark {tag}"):
            seconds, k, ari, selection = _spark_run(data, ccfg)
        log.info("spark %s: k=%d ARI %.4f in %.1f s (%s)", tag, k, ari, seconds, selection.reason)
        out |= {f"cluster_rows_{tag}": rows, f"spark_cluster_seconds_{tag}": round(seconds, 2)}
        out |= {f"spark_cluster_k_{tag}": k, f"spark_cluster_ari_{tag}": round(ari, 4)}
        if i == 0:
            pdf = data.select("blob", "features").toPandas()  # the harness, not the library: untimed export
            x = np.stack(pdf["features"].map(lambda v: v.toArray()).to_numpy())
            truth = pdf["blob"].to_numpy()
            del pdf
            with phases.timed(f"clustering sklearn {tag}"):
                start = time.perf_counter()
                sk_k, labels, _ = sklearn_select_and_fit(x, ccfg, ccfg.seed)
                sk_seconds = time.perf_counter() - start
            sk_ari = adjusted_rand_score(truth, labels)
            log.info("sklearn %s: k=%d ARI %.4f in %.1f s", tag, sk_k, sk_ari, sk_seconds)
            out |= {"sklearn_cluster_seconds_n": round(sk_seconds, 2), "sklearn_cluster_k_n": sk_k}
            out |= {"sklearn_cluster_ari_n": round(sk_ari, 4)}
            out["spark_vs_sklearn_cluster"] = round(seconds / sk_seconds, 2)
            del x, truth, labels
        data.unpersist()
    if "spark_cluster_seconds_2n" in out:
        out["spark_cluster_growth_ratio"] = round(out["spark_cluster_seconds_2n"] / out["spark_cluster_seconds_n"], 2)
    return out


def clustering_rows(m: dict[str, Any], fmt: Any) -> list[tuple[str, str]]:
    """Rows of the markdown table (empty when the clustering phase did not run)."""
    if "spark_cluster_seconds_n" not in m:
        return []
    ratio = m["spark_vs_sklearn_cluster"]
    better = m["spark_cluster_ari_n"] >= m["sklearn_cluster_ari_n"] - 1e-4
    verdict = "ok" if ratio <= SPARK_VS_SKLEARN_TARGET and better else "above target"
    shape = f"{fmt(m['cluster_rows_n'])} x {m['cluster_dims']} ({m['cluster_blobs']} planted blobs)"
    return [
        ("clustering matrix (rows x features)", shape),
        (
            "clustering protocol",
            f"k = {m['cluster_grid']}, sample {fmt(m['cluster_sample_size'])}, "
            f"{m['cluster_seeds_per_k']} seeds per k, highest silhouette (within {m['cluster_tolerance_se']:g} SE), "
            f"no cluster under {m['cluster_min_share']:.0%}, refit on all rows",
        ),
        ("Spark k selection + final fit seconds (N)", fmt(m["spark_cluster_seconds_n"])),
        ("scikit-learn k selection + final fit seconds (N)", fmt(m["sklearn_cluster_seconds_n"])),
        (f"Spark / scikit-learn (target <= {SPARK_VS_SKLEARN_TARGET:g}x at >= ARI)", f"{fmt(ratio)} ({verdict})"),
        ("chosen k (Spark / scikit-learn)", f"{m['spark_cluster_k_n']} / {m['sklearn_cluster_k_n']}"),
        (
            "ARI vs planted blobs (Spark / scikit-learn)",
            f"{m['spark_cluster_ari_n']:.4f} / {m['sklearn_cluster_ari_n']:.4f}",
        ),
        ("Spark seconds (2N)", fmt(m.get("spark_cluster_seconds_2n"))),
        ("Spark growth time(2N)/time(N) (linear = 2.0)", fmt(m.get("spark_cluster_growth_ratio"))),
    ]
