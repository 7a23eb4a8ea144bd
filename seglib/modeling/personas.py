"""Turn fitted clusters into readable persona names derived from the model itself (never a hand-typed dict).

Each centroid lives in standardised feature space, so a coordinate is "how many standard deviations from the average
subject". A persona is named after its two most distinctive coordinates, e.g. "frequent, high-spend".
"""

from __future__ import annotations

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession

# (word when the cluster is above average, word when below). Unknown features fall back to their column name.
FEATURE_WORDS: dict[str, tuple[str, str]] = {
    "recency_days": ("lapsed", "recent"),
    "frequency_30d": ("frequent-lately", "not-buying-lately"),
    "frequency_90d": ("frequent", "infrequent"),
    "frequency_365d": ("frequent", "infrequent"),
    "monetary_365d": ("high-spend", "low-spend"),
    "monetary_90d": ("high-spend", "low-spend"),
    "aov_365d": ("big-basket", "small-basket"),
    "events_90d": ("highly-active", "quiet"),
    "sessions_90d": ("frequent-visitor", "rare-visitor"),
    "tenure_days": ("long-tenured", "new"),
    "engagement_index": ("engaged", "disengaged"),
    "searches_per_session_90d": ("searching", "non-searching"),
    "support_tickets_90d": ("support-heavy", "self-sufficient"),
    "feature_uses_per_week_90d": ("power-user", "light-user"),
    "cart_abandonment_rate_90d": ("cart-abandoning", "decisive"),
    "weekday_share": ("weekday", "weekend"),
}


def cluster_centers(model: PipelineModel) -> list[list[float]]:
    """Centroids (KMeans/BisectingKMeans) or component means (GMM) as z-scores per vector slot; k x d, small.

    PCA and feature weights are undone (centre in component space -> scaled space), then the scaler's
    un-subtracted offset (it divides without centring) is removed to give z-scores.
    """
    from pyspark.ml.feature import ElementwiseProduct, PCAModel, RobustScalerModel, StandardScalerModel

    stage = model.stages[-1]
    clusterer = getattr(stage, "clusterer", stage)
    if hasattr(clusterer, "clusterCenters"):
        centers = [list(map(float, c)) for c in clusterer.clusterCenters()]
    else:
        centers = [list(map(float, row["mean"])) for row in clusterer.gaussiansDF.collect()]
    pca = next((s for s in model.stages if isinstance(s, PCAModel)), None)
    if pca is not None:
        components = pca.pc.toArray()  # d x k: scaled-space coordinates of each component
        centers = [list(map(float, components @ center)) for center in centers]
    weighting = next((s for s in model.stages if isinstance(s, ElementwiseProduct)), None)
    if weighting is not None:
        weights = list(weighting.getScalingVec())
        centers = [[c / w if w else 0.0 for c, w in zip(center, weights, strict=True)] for center in centers]
    scaler = next((s for s in model.stages if isinstance(s, StandardScalerModel | RobustScalerModel)), None)
    if isinstance(scaler, StandardScalerModel) and not scaler.getWithMean():
        offset = [m / s if s else 0.0 for m, s in zip(scaler.mean, scaler.std, strict=True)]
    elif isinstance(scaler, RobustScalerModel) and not scaler.getWithCentering():
        offset = [m / r if r else 0.0 for m, r in zip(scaler.median, scaler.range, strict=True)]
    else:
        return centers
    return [[c - o for c, o in zip(center, offset, strict=True)] for center in centers]


def _word(feature: str, z: float) -> str:
    if "=" in feature:  # a one-hot slot, e.g. plan=enterprise
        column, level = feature.split("=", 1)
        word = f"no-{column}" if level == "missing" else f"{level}-{column}"
        return word if z >= 0 else f"not-{word}"
    high, low = FEATURE_WORDS.get(feature, (f"high-{feature}", f"low-{feature}"))
    return high if z >= 0 else low


def persona_names(centers: list[list[float]], feature_cols: list[str], top: int = 2) -> dict[int, str]:
    """cluster id -> persona name from its largest |z| coordinates.

    Two clusters whose top words coincide (in any order) get their next most distinctive word added; a numeric
    suffix is the last resort.
    """
    names: dict[int, str] = {}
    taken: set[frozenset[str]] = set()
    for cluster_id, center in enumerate(centers):
        if not center or max(map(abs, center)) < 0.25:
            words = ["average"]
        else:
            ranked = sorted(range(len(center)), key=lambda i: -abs(center[i]))
            candidates: list[str] = []
            for i in ranked:
                word = _word(feature_cols[i], center[i])
                if word not in candidates and (abs(center[i]) >= 0.25 or not candidates):
                    candidates.append(word)
            words = candidates[:top]
            extra = top
            while frozenset(words) in taken and extra < len(candidates):
                words = candidates[: extra + 1]
                extra += 1
        base, suffix = words, 2
        while frozenset(words) in taken:
            words = [*base[:-1], f"{base[-1]} ({suffix})"]
            suffix += 1
        taken.add(frozenset(words))
        names[cluster_id] = ", ".join(words)
    return names


def personas_frame(spark: SparkSession, names: dict[int, str], centers: list[list[float]], feature_cols: list[str]):
    """A tiny lookup DataFrame: cluster_id, persona, and the centroid as a feature->z map (for reports)."""
    rows = [
        (cid, names[cid], {f: float(v) for f, v in zip(feature_cols, centers[cid], strict=True)})
        for cid in sorted(names)
    ]
    return spark.createDataFrame(rows, "cluster_id int, persona string, centroid_z map<string,double>")


def with_persona(assigned: DataFrame, personas: DataFrame) -> DataFrame:
    """Attach the persona name to each subject's cluster assignment (broadcast: the lookup has k rows)."""
    from pyspark.sql import functions as F

    return assigned.join(F.broadcast(personas.select("cluster_id", "persona")), "cluster_id", "left")
