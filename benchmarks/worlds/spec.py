"""Planted worlds for choosing the clustering method: a parametrised spec per world, and the named catalogue.

A world is either drawn by this package's own generator (``source="independent"``, written apart from
seglib/generate: other distributions, other segment definitions) or by seglib's generator with another segment list
(``source="seglib"``). In an independent world the segments differ only in their ``signal`` feature groups; every
other group is drawn for each customer from one population distribution with the same spread (pure noise to the
clustering), and a common activity factor correlates purchases with engagement whatever the segment.
"""

from __future__ import annotations

from dataclasses import dataclass

from seglib.config.generator import PLANTED_SEGMENTS

GROUPS = ("purchase", "engagement", "firmographic", "text")


@dataclass(frozen=True)
class WorldSpec:
    """One planted world. ``shares`` are the planted segments' shares (renormalised); names are ``seg_<i>``."""

    name: str
    shares: tuple[float, ...] = (0.2, 0.2, 0.2, 0.2, 0.2)
    signal: tuple[str, ...] = ("purchase", "engagement")
    customers: int = 2000
    days: int = 180
    seed: int = 1
    separation: float = 2.0  # sd of the segment centres on every latent axis of a signal group (within-sd is 1)
    min_centre_distance: float = 6.0  # centres are redrawn until every pair is this far apart (within-sd units)
    activity_factor: float = 0.35  # sd (log scale) of a common factor scaling both orders and sessions
    heavy_tail: bool = False  # Pareto order amounts and a Pareto spend multiplier per customer
    orders_only: bool = False  # no events, no texts
    sparse_share: float = 0.0  # customers with a tenth of the activity (few events, few or no orders)
    events_per_session: float = 4.5
    sessions_per_week: float = 0.35
    orders_per_year: float = 6.0
    consent_share: float = 0.92  # customers granting analytics consent (the others get no feature row)
    # source="seglib": seglib's own generator with these segments (PLANTED_SEGMENTS names) and anonymous share
    source: str = "independent"
    seglib_segments: tuple[str, ...] = ()
    anonymous_share: float = 0.0

    @property
    def k(self) -> int:
        """Planted groups (seglib worlds with anonymous visitors plant them as one more group)."""
        if self.source == "seglib":
            return len(self.seglib_segments) + (1 if self.anonymous_share > 0 else 0)
        return len(self.shares)

    def describe(self) -> str:
        if self.source == "seglib":
            visitors = f" + anonymous visitors ({self.anonymous_share:.0%})" if self.anonymous_share else ""
            return f"seglib generator: {', '.join(self.seglib_segments)}{visitors}"
        shares = ", ".join(f"{s / sum(self.shares):.0%}" for s in self.shares)
        extras = [
            "heavy-tailed spend" if self.heavy_tail else "",
            "orders only (no events, no texts)" if self.orders_only else "",
            f"{self.sparse_share:.0%} sparse customers" if self.sparse_share else "",
            f"activity factor sd {self.activity_factor:g}" if self.activity_factor != 0.35 else "",
        ]
        extra = "; ".join(e for e in extras if e)
        return f"independent: signal in {' + '.join(self.signal)}; shares {shares}" + (f"; {extra}" if extra else "")


WORLDS: dict[str, WorldSpec] = {
    w.name: w
    for w in (
        # The demo's world: seglib's generator with its default segments and anonymous visitors.
        WorldSpec("demo_seglib", source="seglib", seglib_segments=PLANTED_SEGMENTS, anonymous_share=0.3, seed=42),
        # seglib's generator, another segment list, no visitors.
        WorldSpec(
            "seglib_three", source="seglib", seglib_segments=("high_value_loyal", "lapsed", "support_heavy"), seed=5
        ),
        # The world: 5 behavioural segments (purchase + engagement), 2,000 customers.
        WorldSpec("five_segments_independent", seed=11),
        # Purchase-only worlds span a year (seglib's order features look 365 days back) with 12 orders a year at the
        # median: at 6 a year over 180 days most customers had 0-2 orders and no supervised model reached 0.70.
        WorldSpec(
            "purchase_only_heavy_tail",
            shares=(0.4, 0.3, 0.2, 0.1),
            signal=("purchase",),
            heavy_tail=True,
            days=365,
            orders_per_year=12.0,
            seed=12,
        ),
        WorldSpec("engagement_only", shares=(0.25, 0.2, 0.2, 0.15, 0.1, 0.1), signal=("engagement",), seed=13),
        WorldSpec("firmographic_only", shares=(0.5, 0.3, 0.2), signal=("firmographic",), seed=14),
        WorldSpec("text_only", shares=(0.35, 0.25, 0.25, 0.15), signal=("text",), seed=15),
        WorldSpec(
            "nine_imbalanced",
            shares=(0.40, 0.12, 0.10, 0.08, 0.07, 0.06, 0.06, 0.06, 0.05),
            signal=("purchase", "engagement"),
            seed=16,
        ),
        WorldSpec(
            "orders_only",
            shares=(0.3, 0.3, 0.25, 0.15),
            signal=("purchase",),
            orders_only=True,
            days=365,
            orders_per_year=12.0,
            seed=17,
        ),
        WorldSpec(
            "sparse_correlated",
            shares=(0.3, 0.25, 0.25, 0.2),
            signal=("purchase", "engagement"),
            sparse_share=0.25,
            activity_factor=0.7,
            seed=18,
        ),
    )
}
