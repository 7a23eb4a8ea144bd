import math

import pytest
from chispa import assert_approx_df_equality
from pyspark.ml import PipelineModel

from seglib.config.modeling import ClusteringConfig
from seglib.modeling.clustering import assign_clusters, fit_clustering

FAST = {"seeds_per_k": 1, "stability_resamples": 2, "max_iter": 20}


@pytest.fixture(scope="module")
def three_blobs(spark):
    """Three well separated groups (12 subjects each) on two features, one missing value, an all-null column,
    a constant column and a categorical column that is null for one group."""
    rows = []
    for group, (x, y, plan) in enumerate([(0.0, 0.0, "free"), (100.0, 5.0, "pro"), (0.0, 50.0, None)]):
        for i in range(12):
            rows.append((f"s{group}_{i}", x + (i % 3), y + (i % 2), None, 1.0, plan))
    rows.append(("s0_missing", None, 0.5, None, 1.0, "free"))
    schema = "subject_id string, spend double, visits double, empty double, same double, plan string"
    return spark.createDataFrame(rows, schema)


def _cfg(**kwargs) -> ClusteringConfig:
    base = {"features": ["spend", "visits"], "categorical_features": [], "log_features": [], "k_min": 2, "k_max": 4}
    return ClusteringConfig(**{**base, **FAST, **kwargs})


@pytest.fixture(scope="module")
def fitted(three_blobs):
    cfg = _cfg(features=["spend", "visits", "empty", "same"], categorical_features=["plan"], seed=3)
    return fit_clustering(three_blobs, cfg)


def test_stability_selects_the_planted_k(fitted):
    assert fitted.k == 3
    assert fitted.selection.criterion == "stability"
    assert sorted(fitted.silhouette_by_k) == [2, 3, 4]
    assert fitted.stability_by_k[3] == pytest.approx(1.0)
    assert "k=3" in fitted.selection.reason
    assert fitted.cost_by_k[2] > fitted.cost_by_k[3]  # the elbow curve falls as k grows


def test_all_null_and_constant_features_are_dropped_and_reported(fitted):
    assert fitted.dropped_features == {"empty": "all null", "same": "constant"}
    assert fitted.feature_cols == ["spend", "visits", "plan"]
    assert fitted.vector_names == ["spend", "visits", "plan=free", "plan=pro", "plan=missing"]


@pytest.fixture(scope="module")
def assigned(three_blobs, fitted):
    """The fitted model's assignments, computed once for the tests that read or compare them."""
    return assign_clusters(fitted.model, three_blobs).localCheckpoint(eager=True)


def _blob_clusters(rows) -> dict[str, set[int]]:
    """The clusters each planted blob (``s0``, ``s1``, ``s2``: the subject id's prefix) was assigned to."""
    out: dict[str, set[int]] = {}
    for r in rows:
        out.setdefault(r.subject_id[:2], set()).add(r.cluster_id)
    return out


def test_assignment_groups_each_blob_together(assigned):
    rows = assigned.collect()  # 37 rows: one action, checked here
    by_blob = _blob_clusters(rows)
    assert sorted(by_blob) == ["s0", "s1", "s2"]
    assert all(len(clusters) == 1 for clusters in by_blob.values()), by_blob
    assert len(set().union(*by_blob.values())) == 3
    assert all(r.cluster_probability is None for r in rows)  # KMeans is a hard assignment


def test_saved_pipeline_loads_and_assigns_the_same_clusters(three_blobs, fitted, assigned, tmp_path):
    path = str(tmp_path / "model")
    fitted.model.write().overwrite().save(path)
    loaded = PipelineModel.load(path)
    assert loaded.stages[-1].selection == fitted.selection
    assert loaded.stages[-1].k == 3
    # k was chosen on principal components and refined in the full space: the nearest-centre model round-trips too.
    assert fitted.selection.space.startswith("2 principal components of 5 dimensions")
    assert type(loaded.stages[-1].clusterer).__name__ == "NearestCentroidModel"
    assert_approx_df_equality(
        assign_clusters(loaded, three_blobs).drop("cluster_probabilities"),
        assigned.drop("cluster_probabilities"),
        precision=1e-9,
        ignore_row_order=True,
    )


def test_same_seed_gives_the_same_selection_and_assignments_whatever_the_grid_parallelism(
    three_blobs, fitted, assigned
):
    assert _cfg().parallelism > 1  # the fixture's grid ran several fits at a time; this one runs them one by one
    again = fit_clustering(
        three_blobs,
        _cfg(features=["spend", "visits", "empty", "same"], categorical_features=["plan"], seed=3, parallelism=1),
    )
    assert again.selection == fitted.selection
    assert_approx_df_equality(
        assign_clusters(again.model, three_blobs).drop("cluster_probabilities"),
        assigned.drop("cluster_probabilities"),
        precision=1e-9,
        ignore_row_order=True,
    )


@pytest.fixture(scope="module")
def gaussian_blobs(spark):
    """Three blobs of 30 distinct points each. A Gaussian mixture needs spread inside every component: on the
    repeated grid points of ``three_blobs`` a stability subsample can leave a component with identical points, a
    singular covariance, and Spark's eigen-decomposition (LAPACK dsyev) then looped on NaN (seen once in the suite)."""
    rows = [
        (f"s{group}_{i}", x + ((i * 7) % 30) / 10.0, y + ((i * 11) % 30) / 15.0)
        for group, (x, y) in enumerate([(0.0, 0.0), (100.0, 5.0), (0.0, 50.0)])
        for i in range(30)
    ]
    return spark.createDataFrame(rows, "subject_id string, spend double, visits double")


def test_gmm_chooses_k_by_bic_and_keeps_soft_membership(gaussian_blobs):
    result = fit_clustering(gaussian_blobs, _cfg(algorithm="gmm", k_min=2, k_max=3, seed=5))
    assert result.selection.criterion == "bic"
    assert set(result.selection.by_k("bic")) == {2, 3}
    assigned = assign_clusters(result.model, gaussian_blobs)
    row = assigned.where("subject_id = 's1_0'").first()
    assert len(row["cluster_probabilities"]) == result.k
    assert row["cluster_probability"] == pytest.approx(max(row["cluster_probabilities"]))
    assert row["cluster_probability"] > 0.9


def test_bisecting_kmeans_on_principal_components_separates_the_blobs(three_blobs):
    result = fit_clustering(three_blobs, _cfg(algorithm="bisecting_kmeans", k_min=3, k_max=3, pca_components=2))
    by_blob = _blob_clusters(assign_clusters(result.model, three_blobs).select("subject_id", "cluster_id").collect())
    assert sorted(by_blob) == ["s0", "s1", "s2"]
    assert all(len(clusters) == 1 for clusters in by_blob.values()), by_blob
    assert len(set().union(*by_blob.values())) == 3


def test_canonical_order_depends_on_the_vectors_only(spark):
    """Pseudonyms decide the input order, so another key must not move a row to another partition or place."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.ml.linalg import Vectors
    from pyspark.sql import functions as F

    from seglib.modeling.row_order import canonical_order

    rows = [(f"s{i}", Vectors.dense([float(i % 7), float(i % 3)])) for i in range(40)]
    one = spark.createDataFrame(rows, ["subject_id", "features"]).repartition(3)
    other = spark.createDataFrame(rows[::-1], ["subject_id", "features"]).coalesce(1)

    def placed(df):
        ordered = canonical_order(df.withColumn("values", vector_to_array("features")), ["values"])
        with_position = ordered.select(F.spark_partition_id().alias("p"), "subject_id", "features")
        return [(r.p, tuple(r.features)) for r in with_position.collect()]

    assert placed(one) == placed(other)
    assert sorted(v for _, v in placed(one)) == sorted(tuple(r[1]) for r in rows)
    # A scaler's mean or an average summed in another order differs in the last bits: the places do not move.
    noisy = [(s, Vectors.dense([math.nextafter(v[0], math.inf), v[1]])) for s, v in rows]
    moved = placed(spark.createDataFrame(noisy, ["subject_id", "features"]))
    assert [(p, v[1]) for p, v in moved] == [(p, v[1]) for p, v in placed(one)]
    assert [v[0] for _, v in moved] != [v[0] for _, v in placed(one)]  # the values did differ


def test_silhouette_criterion_computes_stability_for_the_chosen_k_only(three_blobs):
    result = fit_clustering(three_blobs, _cfg(criterion="silhouette", seed=3))
    assert result.k == 3
    assert {c.k: c.stability is None for c in result.selection.candidates} == {2: True, 3: False, 4: True}
    assert result.stability_by_k == {3: pytest.approx(1.0)}  # what the champion gate reads


def test_unknown_feature_is_an_error(three_blobs):
    with pytest.raises(ValueError, match="not in the feature table"):
        fit_clustering(three_blobs, _cfg(features=["spend", "nope"]))


def test_feature_weights_must_name_features():
    with pytest.raises(ValueError, match="unknown features"):
        _cfg(feature_weights={"nope": 2.0})


def test_smoothed_shares_must_be_features_once_each():
    with pytest.raises(ValueError, match=r"not in clustering\.features"):
        _cfg(smoothed_shares={"visits": ["nope"]})
    with pytest.raises(ValueError, match="under two counts"):
        _cfg(smoothed_shares={"visits": ["spend"], "other": ["spend"]})
    assert _cfg().smoothed_shares  # the default list names shares this model does not use: skipped, no error


def test_share_count_column_must_be_in_the_feature_table(three_blobs):
    with pytest.raises(ValueError, match=r"share counts not in the feature table: \['events'\]"):
        fit_clustering(three_blobs, _cfg(smoothed_shares={"events": ["visits"]}))


def test_silhouette_with_se_reproduces_sparks_evaluator(spark):
    from pyspark.ml.evaluation import ClusteringEvaluator
    from pyspark.ml.linalg import Vectors

    from seglib.modeling.selection import silhouette_with_se

    rows = [(Vectors.dense([float(i % 5), float(i % 3) * 2.0]), i % 3) for i in range(30)] + [
        (Vectors.dense([40.0, 1.0]), 3)  # a singleton cluster: silhouette 0, as in Spark
    ]
    scored = spark.createDataFrame(rows, ["features", "p"])
    mean, se = silhouette_with_se(scored, "features", "p")
    assert mean == pytest.approx(ClusteringEvaluator(predictionCol="p").evaluate(scored), abs=1e-9)
    assert 0 < se < 1


def test_silhouette_one_standard_error_rule():
    from seglib.modeling.selection import Candidate, choose_k

    def cand(k, sil, se=0.005):
        return Candidate(k=k, seed=1, cost=1.0, silhouette=sil, stability=1.0, min_share=0.1, silhouette_se=se)

    grid = [cand(6, 0.344), cand(7, 0.3518), cand(8, 0.3527), cand(9, 0.3477)]
    assert choose_k(grid, "silhouette", 0.9, 0.01, 1.0)[0] == 7  # 8 is not resolvably better than 7
    assert choose_k(grid, "silhouette", 0.9, 0.01, 0.0)[0] == 8  # tolerance 0: the plain maximum
    assert "standard error" in choose_k(grid, "silhouette", 0.9, 0.01, 1.0)[1]


@pytest.fixture(scope="module")
def shared_signal_world(spark):
    """Four groups (25 each) on two latent traits, each shown by two noisy columns, plus six pure-noise columns: the
    structure lives in the correlated columns, which the noise columns outnumber."""
    import random

    rnd = random.Random(1)
    rows = []
    for group, (cx, cy) in enumerate([(0, 0), (6, 0), (0, 6), (6, 6)]):
        for i in range(25):
            x, y = cx + rnd.gauss(0, 1), cy + rnd.gauss(0, 1)
            shown = [x + rnd.gauss(0, 1), x + rnd.gauss(0, 1), y + rnd.gauss(0, 1), y + rnd.gauss(0, 1)]
            rows.append((f"s{group}_{i}", group, *shown, *[rnd.gauss(0, 1) for _ in range(6)]))
    columns = ["a1", "a2", "b1", "b2", *[f"n{j}" for j in range(6)]]
    schema = ", ".join(["subject_id string", "truth int", *[f"{c} double" for c in columns]])
    return spark.createDataFrame(rows, schema), columns


def _shared_signal_fit(world, min_eigenvalue: float):
    from seglib.modeling.metrics import adjusted_rand_index

    df, columns = world
    cfg = _cfg(
        features=columns, k_max=5, criterion="silhouette", min_cluster_share=0.05, seed=7, seeds_per_k=2,
        selection_min_eigenvalue=min_eigenvalue,
    )  # fmt: skip
    result = fit_clustering(df, cfg)
    return result, adjusted_rand_index(assign_clusters(result.model, df), "truth", "cluster_id")


def test_k_chosen_on_leading_components_then_refined_in_the_full_space(shared_signal_world):
    result, ari = _shared_signal_fit(shared_signal_world, 1.5)
    assert result.k == 4
    assert ari > 0.8
    assert result.selection.space.startswith("2 principal components of 10 dimensions")
    final = result.model.stages[-1].clusterer
    assert type(final).__name__ == "NearestCentroidModel"
    assert {len(c) for c in final.clusterCenters()} == {10}  # the published centres live in the full space
    # The published silhouette is the final model's in the full space, not the grid's in the reduced one.
    assert result.silhouette == result.selection.final_silhouette
    assert result.silhouette != result.silhouette_by_k[4]


def test_k_chosen_in_the_full_space_is_drowned_by_the_noise_columns(shared_signal_world):
    """Why the reduced space is the default: the same world, k chosen on all ten standardised columns."""
    result, ari = _shared_signal_fit(shared_signal_world, 0.0)
    assert result.selection.space == "full space, 10 dimensions"
    assert type(result.model.stages[-1].clusterer).__name__ == "KMeansModel"
    assert result.k != 4
    assert ari < 0.7
