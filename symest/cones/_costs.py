"""FLOP constants and cost helpers of the cone measures (see "Cost model" in :mod:`symest.cones`)."""

from __future__ import annotations

import math

TRANSCENDENTAL_FLOPS = 16
"""FLOPs charged per element for trig, exp, log and atan2: flopscope's weight."""

FLOPSCOPE_SCALE = 4
"""Every count below is multiplied by this before it is reported: x2 because flopscope bills a
contraction's multiplies and adds separately (an overestimate for elementwise work, so the
conversion never undercharges) and x2 for float64 operands (flopscope's dtype billing)."""


_T = TRANSCENDENTAL_FLOPS


def _svd_flops(m: int, n: int) -> int:
    m, n = max(m, n), min(m, n)
    return 4 * m * n * n + 8 * n**3


def _sort_flops(k: int) -> int:
    return k * max(1, math.ceil(math.log2(max(k, 2))))


def _clean_flops(m: int, n: int) -> int:
    # row max-abs (abs + compare), scale, square, sum, sqrt, divide, zero test
    return m * (6 * n + _T + 1)
