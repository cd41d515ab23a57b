"""``Agree(a, b, k)``: the claim that two numbers agree to ``k`` bits, and its precision."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import sympy as sp

from symest.derivation._symbols import _sym


class Agree(sp.Function):
    """``Agree(a, b, k)``: ``|a - b| <= 2^-k max(|a|, |b|)``. Evaluates to true/false when
    ``a``, ``b`` and ``k`` are numbers; stays symbolic otherwise."""

    nargs = 3

    @classmethod
    def eval(cls, a: sp.Expr, b: sp.Expr, k: sp.Expr) -> Any:
        if a.is_number and b.is_number and k.is_number:
            return sp.true if bool(_agree_np(float(a), float(b), float(k))) else sp.false
        return None

    def as_relational(self) -> sp.Expr:
        a, b, k = self.args
        return sp.Abs(a - b) <= 2 ** (-k) * sp.Max(sp.Abs(a), sp.Abs(b))

    def _latex(self, printer: Any) -> str:
        a, b, k = (printer._print(arg) for arg in self.args)
        return rf"\left|{a} - {b}\right| \le 2^{{-{k}}} \max\left(\left|{a}\right|, \left|{b}\right|\right)"


def _agree_np(a: Any, b: Any, k: Any, xp: Any = np) -> Any:
    return xp.abs(a - b) <= (2.0 ** (-k)) * xp.maximum(xp.abs(a), xp.abs(b))


def agree(a: Any, b: Any, k: int) -> Agree:
    """The claim that ``a`` and ``b`` agree to 1 part in ``2^k`` (k bits under the default prior)."""
    return Agree(_sym(a), _sym(b), sp.Integer(int(k)))


def agreement_bits(a: float, b: float, cap: int = 52) -> int:
    """``floor(-log2(|a - b| / max(|a|, |b|)))``: the precision to which two numbers agree
    (``cap``, float64's 52 fraction bits, when they are equal; 0 when they disagree by more
    than half, including opposite signs)."""
    a, b = float(a), float(b)
    scale = max(abs(a), abs(b))
    if scale == 0 or a == b:
        return cap
    rel = abs(a - b) / scale
    return int(min(cap, max(0, math.floor(-math.log2(rel)))))
