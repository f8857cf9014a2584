"""Figures shared by the benchmarks."""

import math


def percentile(values: list[float], p: float) -> float:
    """The nearest-rank p-th percentile (0 < p ≤ 100) of a non-empty sample."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]
