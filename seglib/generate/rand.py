"""Seeded, partition-independent randomness as Spark column expressions (hashes of seed, salt and row keys)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F

_MASK53 = (1 << 53) - 1
_TWO53 = float(1 << 53)

Key = Column | str


def _cols(keys: Sequence[Key]) -> list[Column]:
    return [F.col(k) if isinstance(k, str) else k for k in keys]


@dataclass(frozen=True)
class Rng:
    """Draws that depend only on (seed, salt, keys), so output never depends on partitioning or run order."""

    seed: int

    def hash(self, salt: str, *keys: Key) -> Column:
        return F.xxhash64(F.lit(self.seed), F.lit(salt), *_cols(keys))

    def u(self, salt: str, *keys: Key) -> Column:
        """Uniform in [0, 1) from the top 53 bits of a 64-bit hash."""
        return self.hash(salt, *keys).bitwiseAND(F.lit(_MASK53)).cast("double") / F.lit(_TWO53)

    def normal(self, salt: str, *keys: Key) -> Column:
        """Standard normal by Box-Muller over two independent uniforms."""
        u1 = F.lit(1.0) - self.u(salt + ".1", *keys)
        u2 = self.u(salt + ".2", *keys)
        return F.sqrt(F.lit(-2.0) * F.log(u1)) * F.cos(F.lit(2 * math.pi) * u2)

    def lognormal(self, salt: str, mu: Column, sigma: Column, *keys: Key) -> Column:
        return F.exp(mu + sigma * self.normal(salt, *keys))

    def pareto(self, salt: str, xm: Column, alpha: Column, *keys: Key) -> Column:
        """Pareto(xm, alpha) by inversion: heavy-tailed amounts."""
        return xm / F.pow(F.lit(1.0) - self.u(salt, *keys), F.lit(1.0) / alpha)

    def hex_id(self, salt: str, *keys: Key) -> Column:
        """16 lowercase hex digits."""
        return F.lower(F.lpad(F.hex(self.hash(salt, *keys)), 16, "0"))


def lit_array(values: Sequence[object]) -> Column:
    """A literal array column (nested sequences become nested arrays)."""
    return F.array(*[lit_array(v) if isinstance(v, list | tuple) else F.lit(v) for v in values])


def pick_from(u: Column, arr: Column) -> Column:
    """Uniform choice from an array column."""
    return F.element_at(arr, F.floor(u * F.size(arr)).cast("int") + 1)


def pick(u: Column, values: Sequence[object]) -> Column:
    """Uniform choice from literal values."""
    return pick_from(u, lit_array(values))


def cumulative(weights: Sequence[float]) -> list[float]:
    """Normalised exclusive-start cumulative weights ending at exactly 1.0, for :func:`weighted_index`."""
    total = float(sum(weights))
    out, acc = [], 0.0
    for w in weights:
        acc += w / total
        out.append(acc)
    out[-1] = 1.0
    return out


def weighted_index(u: Column, cum: Column) -> Column:
    """0-based index of the bucket holding ``u`` in a cumulative-weight array column."""
    return F.size(F.filter(cum, lambda c: c <= u))
