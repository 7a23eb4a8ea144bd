import pytest

from seglib.modeling.metrics import adjusted_rand_index, ari_from_counts, nmi_from_counts, normalized_mutual_info
from seglib.modeling.selection import elbow_knee


@pytest.fixture(scope="module")
def labels(spark):
    # a = [0,0,1,1,2,2], b = [0,0,1,2,2,2]: scikit-learn gives ARI 0.4444..., NMI 0.7397...
    rows = list(zip([0, 0, 1, 1, 2, 2], ["x", "x", "y", "z", "z", "z"], strict=True))
    return spark.createDataFrame(rows, "a int, b string")


def test_ari_and_nmi_match_the_reference_values(labels):
    assert adjusted_rand_index(labels, "a", "b") == pytest.approx(4 / 9)
    assert normalized_mutual_info(labels, "a", "b") == pytest.approx(0.739667, abs=1e-6)


def test_identical_partitions_score_one_whatever_the_label_names():
    counts = {(0, "x"): 5, (1, "y"): 3}
    assert ari_from_counts(counts) == 1.0
    assert nmi_from_counts(counts) == pytest.approx(1.0)


def test_elbow_knee_is_the_point_farthest_below_the_chord():
    assert elbow_knee({2: 100.0, 3: 40.0, 4: 30.0, 5: 25.0, 6: 22.0}) == 3
