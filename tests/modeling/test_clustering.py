import pytest

from seglib.config.modeling import ClusteringConfig
from seglib.modeling.clustering import assign_clusters, fit_clustering


@pytest.fixture(scope="module")
def three_blobs(spark):
    """Three well separated groups on two features (10 subjects each), with one missing value to impute."""
    rows = []
    for group, (x, y) in enumerate([(0.0, 0.0), (100.0, 5.0), (0.0, 50.0)]):
        for i in range(10):
            rows.append((f"s{group}_{i}", x + (i % 3), y + (i % 2)))
    rows.append(("s_missing", None, 0.5))
    return spark.createDataFrame(rows, "subject_id string, spend double, visits double")


def test_silhouette_selects_the_planted_k(three_blobs):
    cfg = ClusteringConfig(k_min=2, k_max=5, features=["spend", "visits"], seed=3)
    result = fit_clustering(three_blobs, cfg)
    assert result.k == 3
    assert result.silhouette > 0.8
    assert sorted(result.silhouette_by_k) == [2, 3, 4, 5]
    # the elbow curve must fall as k grows
    assert result.cost_by_k[2] > result.cost_by_k[3]


def test_assignment_groups_each_blob_together(three_blobs):
    cfg = ClusteringConfig(k_min=3, k_max=3, features=["spend", "visits"])
    result = fit_clustering(three_blobs, cfg)
    assigned = assign_clusters(result.model, three_blobs, result.feature_cols)
    by_blob = assigned.selectExpr("split(subject_id, '_')[0] AS blob", "cluster_id").distinct()
    assert by_blob.where("blob != 's'").groupBy("blob").count().where("count > 1").count() == 0
    assert by_blob.where("blob != 's'").select("cluster_id").distinct().count() == 3


@pytest.mark.parametrize("algorithm", ["bisecting_kmeans", "gmm"])
def test_other_algorithms_fit_three_clusters(three_blobs, algorithm):
    cfg = ClusteringConfig(algorithm=algorithm, k_min=3, k_max=3, features=["spend", "visits"])
    result = fit_clustering(three_blobs, cfg)
    assigned = assign_clusters(result.model, three_blobs, result.feature_cols)
    assert assigned.select("cluster_id").distinct().count() == 3


def test_unknown_feature_is_an_error(three_blobs):
    with pytest.raises(ValueError, match="not in the feature table"):
        fit_clustering(three_blobs, ClusteringConfig(features=["spend", "nope"]))
