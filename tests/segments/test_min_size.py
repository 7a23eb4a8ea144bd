from chispa import assert_df_equality

from seglib.segments.min_size import SizePlan, apply_plan, plan_min_size

SIZES = {0: 50, 1: 40, 2: 3, 3: 7}
Z = {
    0: {"x": 1.0, "y": 0.0},
    1: {"x": -1.0, "y": 0.0},
    2: {"x": -0.8, "y": 0.3},  # nearest to 1
    3: {"x": 0.9, "y": -0.2},  # nearest to 0
}


def test_small_clusters_merge_into_their_nearest_large_neighbour():
    plan = plan_min_size(SIZES, Z, min_size=5, min_share=0.0, policy="merge")
    assert plan == SizePlan(target={2: 1})
    by_share = plan_min_size(SIZES, Z, min_size=1, min_share=0.08, policy="merge")
    assert by_share == SizePlan(target={2: 1, 3: 0})
    assert by_share.sources([0, 1, 2, 3]) == {0: [0, 3], 1: [1, 2]}


def test_flag_policy_and_all_small_publish_flagged_instead_of_merging():
    assert plan_min_size(SIZES, Z, min_size=5, min_share=0.0, policy="flag") == SizePlan(small=[2])
    assert plan_min_size(SIZES, Z, min_size=100, min_share=0.0, policy="merge") == SizePlan(small=[0, 1, 2, 3])
    assert plan_min_size(SIZES, Z, min_size=1, min_share=0.0, policy="merge") == SizePlan()


def test_moved_members_change_cluster_and_lose_their_stale_probability(spark):
    assigned = spark.createDataFrame(
        [("a", 0, 0.9), ("b", 2, 0.8), ("c", 1, 0.7)], "subject_id string, cluster_id int, max_probability double"
    )
    expected = spark.createDataFrame(
        [("a", 0, 0.9), ("b", 1, None), ("c", 1, 0.7)], "subject_id string, cluster_id int, max_probability double"
    )
    moved = apply_plan(assigned, SizePlan(target={2: 1}))
    assert_df_equality(moved, expected, ignore_row_order=True, ignore_nullable=True)
