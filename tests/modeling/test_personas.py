import pytest

from seglib.modeling.personas import (
    Persona,
    numeric_feature_columns,
    persona_card,
    persona_names,
    personas_for,
    segment_stats,
)


@pytest.fixture(scope="module")
def stats(spark):
    """Two groups on two features: group 0 spends 10 and 30, group 1 spends 100 (one member without visits)."""
    features = spark.createDataFrame(
        [("a", 10.0, 1), ("b", 30.0, 3), ("c", 100.0, None), ("d", 100.0, 8)],
        "subject_id string, monetary_365d double, sessions_90d int",
    )
    assigned = spark.createDataFrame([("a", 0), ("b", 0), ("c", 1), ("d", 1)], "subject_id string, cluster_id int")
    return segment_stats(assigned, features, "cluster_id", numeric_feature_columns(features))


def test_stats_are_member_means_and_population_moments(stats):
    assert stats.sizes == {0: 2, 1: 2}
    assert stats.centroids[0] == {"monetary_365d": 20.0, "sessions_90d": 2.0}
    # nulls are ignored by the mean: group 1's visits come from its one member that has them
    assert stats.centroids[1] == {"monetary_365d": 100.0, "sessions_90d": 8.0}
    assert stats.population_mean == {"monetary_365d": 60.0, "sessions_90d": 4.0}
    assert stats.population_std["monetary_365d"] == pytest.approx(40.6202, abs=1e-4)
    assert stats.z_scores(1)["monetary_365d"] == pytest.approx(40 / 40.6202, abs=1e-4)


def test_personas_describe_size_share_and_distinguishing_features(stats):
    names = persona_names({g: stats.z_scores(g) for g in (0, 1)}, [1, 0])
    personas = personas_for(stats, {0: "S001", 1: "S002"}, names, top_features=1, new_groups=[1])
    assert [(p.segment_id, p.segment_name, p.size, p.share, p.top_features) for p in personas] == [
        ("S001", "low-spend, rare-visitor", 2, 0.5, ["monetary_365d"]),
        ("S002", "frequent-visitor, high-spend", 2, 0.5, ["sessions_90d"]),
    ]
    text = personas[1].description(stats.population_mean)
    assert text.startswith("frequent-visitor, high-spend (S002): 2 subjects, 50.0% of the snapshot.")
    assert "higher sessions_90d (8.00 vs 4.00, z +1.4)" in text
    assert text.endswith("New in this snapshot.")
    card = persona_card(personas, stats.population_mean, "Segments")
    assert "## S002 · frequent-visitor, high-spend" in card
    assert "| sessions_90d | 8.00 | 4.00 | +1.36 |" in card


def test_names_come_from_the_largest_z_scores():
    z = {
        0: {"monetary_365d": 2.0, "recency_days": -0.1, "frequency_365d": 0.0},
        1: {"monetary_365d": -1.5, "recency_days": 0.0, "frequency_365d": 1.2},
        2: {"monetary_365d": 0.1, "recency_days": 0.05, "frequency_365d": -0.1},
    }
    assert persona_names(z, [0, 1, 2]) == {0: "high-spend", 1: "low-spend, frequent", 2: "average"}


def test_names_never_collide_with_each_other_or_reserved_names():
    z = {0: {"monetary_365d": 2.0, "frequency_365d": 1.0, "tenure_days": 0.5}, 1: {"monetary_365d": 1.0}}
    z[2] = {"frequency_365d": 2.0, "monetary_365d": 1.0, "tenure_days": -0.6}
    names = persona_names(z, [0, 1, 2], reserved=["high-spend"])
    # 1's only word is reserved: suffix; 2's words equal 0's in another order: its next word is added
    assert names == {0: "high-spend, frequent", 1: "high-spend (2)", 2: "frequent, high-spend, new"}


def test_names_are_deterministic_under_ties_and_float_noise():
    tied = {"monetary_365d": 1.0, "frequency_365d": -1.0 + 1e-12, "sessions_90d": 0.0}
    assert persona_names({0: tied}, [0]) == {0: "infrequent, high-spend"}
    affinity = {"affinity_outdoor_gear": 0.9}
    assert persona_names({0: affinity}, [0]) == {0: "outdoor-gear-loving"}


def test_small_segments_keep_only_their_size_and_merges_are_described(stats):
    names = {0: "low-spend", 1: "high-spend"}
    small, large = personas_for(stats, {0: "S001", 1: "S002"}, names, top_features=2, small_groups=[1])[::-1]
    assert (small.centroid, small.z_scores, small.top_features) == ({}, {}, [])
    assert small.description(stats.population_mean) == (
        "high-spend (S002): 2 subjects, 50.0% of the snapshot. "
        "Below the minimum segment size: figures withheld, not for activation."
    )
    assert large.centroid == {"monetary_365d": 20.0, "sessions_90d": 2.0}
    merged = Persona("S010", "average", 3, 0.01, {"x": 1.0}, {"x": 0.0}, ["x"], source_clusters=[2, 5])
    assert merged.description({"x": 1.0}).endswith("Merged from 2 clusters of the model.")
