import pytest
from pydantic import ValidationError

from seglib.config.generator import PLANTED_SEGMENTS, GeneratorConfig
from seglib.generate.profiles import ANONYMOUS_CODE, PROFILES, SEGMENT_NAMES
from seglib.generate.rand import cumulative
from seglib.generate.subjects import segment_cumulative


def test_config_lists_the_profiles_customer_segments():
    assert SEGMENT_NAMES[:ANONYMOUS_CODE] == PLANTED_SEGMENTS


def test_default_segment_weights_are_unchanged():
    """All six planted: the same cumulative weights as before the option existed, so the same data."""
    assert segment_cumulative(GeneratorConfig()) == cumulative([p.share for p in PROFILES[:ANONYMOUS_CODE]])


def test_unplanted_segments_get_no_probability_mass():
    cum = segment_cumulative(GeneratorConfig(segments=["bargain_hunter", "support_heavy"]))
    widths = [b - a for a, b in zip([0.0, *cum[:-1]], cum, strict=True)]
    planted = {"bargain_hunter", "support_heavy"}
    assert [w > 0 for w in widths] == [p.name in planted for p in PROFILES[:ANONYMOUS_CODE]]
    assert cum[-1] == 1.0


@pytest.mark.parametrize("segments", [[], ["nope"], ["lapsed", "lapsed"], ["anonymous_visitor"]])
def test_bad_segment_lists_are_rejected(segments):
    with pytest.raises(ValidationError, match=r"generator\.segments"):
        GeneratorConfig(segments=segments)
