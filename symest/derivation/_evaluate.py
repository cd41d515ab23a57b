"""Numeric evaluation, flopscope billing and LaTeX of expressions."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import sympy as sp

from symest.derivation._agree import _agree_np
from symest.derivation._errors import DerivationError
from symest.derivation._symbols import _sym


def _free(e: sp.Expr) -> list[sp.Symbol]:
    return sorted(e.free_symbols, key=lambda s: s.name)


@functools.lru_cache(maxsize=4096)
def _lambdified(e: sp.Expr) -> tuple[list[sp.Symbol], Callable[..., Any]]:
    syms = _free(e)
    fn = sp.lambdify(syms, e, modules=[{"Agree": _agree_np}, "numpy"])
    return syms, fn


def evaluate(e: Any, values: Mapping[sp.Symbol, float]) -> Any:
    """Numeric value (float64) of an expression or claim at ``values``."""
    e = _sym(e)
    if isinstance(e, sp.And):
        return all(bool(evaluate(a, values)) for a in e.args)
    if isinstance(e, sp.Or):
        return any(bool(evaluate(a, values)) for a in e.args)
    if isinstance(e, sp.Not):
        return not bool(evaluate(e.args[0], values))
    if e is sp.true or e is sp.false:
        return bool(e)
    simple = _simple_value(e, values)
    if simple is not None:
        return simple
    syms, fn = _lambdified(e)
    missing = [s.name for s in syms if s not in values]
    if missing:
        raise DerivationError(f"{str(e)[:60]} mentions {', '.join(missing[:4])}, which have no value here "
                              "(claims must be about the weights)")
    with np.errstate(all="ignore"):
        out = fn(*[np.float64(values[s]) for s in syms])
    return bool(out) if isinstance(out, (bool, np.bool_)) else float(out)


_SIMPLE_RELS = {sp.StrictGreaterThan: np.greater, sp.StrictLessThan: np.less, sp.GreaterThan: np.greater_equal,
                sp.LessThan: np.less_equal, sp.Equality: np.equal, sp.Unequality: np.not_equal}


def _simple_value(e: sp.Expr, values: Mapping[sp.Symbol, float]) -> Any:
    """Fast path (no code generation) for a symbol, a number, or a relation between them."""
    def leaf(a: sp.Expr) -> float | None:
        if isinstance(a, sp.Symbol):
            return values.get(a)
        if a.is_number and a.is_real:
            return float(a)
        return None

    if isinstance(e, sp.Symbol) or e.is_number:
        return leaf(e)
    op = _SIMPLE_RELS.get(type(e))
    if op is not None:
        lhs, rhs = (leaf(a) for a in e.args)
        if lhs is not None and rhs is not None:
            return bool(op(np.float64(lhs), np.float64(rhs)))
    return None


def _latex(e: sp.Expr, limit: int = 2000) -> str:
    """``sympy.latex`` for expressions of moderate size (large conjunctions get none)."""
    return sp.latex(e) if sp.count_ops(e, visual=False) <= limit // 10 else ""


def expr_flops(e: Any) -> int:
    """flopscope's cost of evaluating ``e`` once in float64 (``And``/``Or``: sum of the parts)."""
    if isinstance(e, (sp.And, sp.Or)):
        return sum(expr_flops(a) for a in e.args)
    if isinstance(e, sp.Not):
        return expr_flops(e.args[0])
    if not isinstance(e, sp.Basic) or not e.free_symbols:
        return 0
    # the cost does not depend on which symbols appear: share one count per shape
    syms = _free(e)
    canon = e.xreplace({s: sp.Symbol(f"_c{i}", real=True) for i, s in enumerate(syms)})
    return _expr_flops(canon)


@functools.lru_cache(maxsize=4096)
def _expr_flops(e: sp.Expr) -> int:
    from symest.flops import count

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import flopscope.numpy as fnp

        syms = _free(e)
        fn = sp.lambdify(syms, e, modules=[{"Agree": lambda a, b, k: _agree_np(a, b, k, fnp),
                                            "Max": fnp.maximum, "Min": fnp.minimum, "Abs": fnp.abs}, fnp])
        args = [np.float64(1.0 + 0.1 * i) for i in range(len(syms))]
        try:
            return count(lambda _fnp, *a: fn(*a), *args)
        except Exception:  # pragma: no cover - an op flopscope lacks: count nodes instead
            return 2 * sum(1 for _ in sp.preorder_traversal(e))
