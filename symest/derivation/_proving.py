"""Proof helpers: positivity from sign/magnitude facts; piecewise-linear identities."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import sympy as sp

from symest.derivation._errors import DerivationError
from symest.derivation._evaluate import _free
from symest.derivation._priors import _is_zero
from symest.derivation._symbols import _sym


def _facts_table(facts: Iterable[Any]) -> tuple[dict[sp.Symbol, int], dict[sp.Symbol, str], dict[sp.Symbol, sp.Expr]]:
    """Read atomic facts: signs (s > 0), magnitudes (|s| > 1, |s| < 1, |s| = 1), exact values."""
    sign: dict[sp.Symbol, int] = {}
    mag: dict[sp.Symbol, str] = {}
    value: dict[sp.Symbol, sp.Expr] = {}

    def atoms(f: Any) -> Iterator[Any]:
        if isinstance(f, sp.And):
            for a in f.args:
                yield from atoms(a)
        else:
            yield f

    for fact in facts:
        for f in atoms(_sym(fact)):
            if isinstance(f, sp.Equality):
                lhs, rhs = f.args
                if isinstance(lhs, sp.Symbol) and rhs.is_number:
                    value[lhs] = rhs
                elif isinstance(rhs, sp.Symbol) and lhs.is_number:
                    value[rhs] = lhs
                elif isinstance(lhs, sp.Abs) and isinstance(lhs.args[0], sp.Symbol) and rhs == 1:
                    mag[lhs.args[0]] = "eq1"
                continue
            if not isinstance(f, (sp.StrictGreaterThan, sp.StrictLessThan)):
                continue
            big, small = (f.args[0], f.args[1]) if isinstance(f, sp.StrictGreaterThan) else (f.args[1], f.args[0])
            if isinstance(big, sp.Symbol) and _is_zero(small):
                sign[big] = 1
            elif isinstance(small, sp.Symbol) and _is_zero(big):
                sign[small] = -1
            elif isinstance(big, sp.Abs) and isinstance(big.args[0], sp.Symbol) and small == 1:
                mag[big.args[0]] = "gt1"
            elif isinstance(small, sp.Abs) and isinstance(small.args[0], sp.Symbol) and big == 1:
                mag[small.args[0]] = "lt1"
    for s, kind in mag.items():  # |s| = 1 with a known sign fixes the value
        if kind == "eq1" and s in sign and s not in value:
            value[s] = sp.Integer(sign[s])
    return sign, mag, value


def _positive_poly(e: sp.Expr, pos: Sequence[sp.Symbol]) -> int:
    """+1 if e is a nonzero polynomial in the positive symbols with all coefficients > 0 (so
    e > 0), -1 if all < 0, 0 otherwise."""
    e = sp.expand(e)
    if e.is_number:
        return 1 if e > 0 else -1 if e < 0 else 0
    if not e.free_symbols <= set(pos):
        return 0
    try:
        coeffs = sp.Poly(e, *sorted(e.free_symbols, key=lambda s: s.name)).coeffs()
    except sp.PolynomialError:
        return 0
    if all(c.is_number and c > 0 for c in coeffs):
        return 1
    if all(c.is_number and c < 0 for c in coeffs):
        return -1
    return 0


def prove_positive(expr: Any, facts: Iterable[Any]) -> bool:
    """Prove ``expr > 0`` from atomic facts (a sufficient, not complete, method).

    Each symbol with a sign fact becomes ``s * p`` (``p > 0``); with ``|s| > 1`` ``s * (1 + p)``,
    with ``|s| < 1`` ``s / (1 + p)``, with ``|s| = 1`` just its sign; exact values are substituted.
    The result is proved positive if, brought to one fraction, numerator and denominator are
    polynomials in the new positive symbols whose coefficients all have one sign.
    """
    sign, mag, value = _facts_table(facts)
    e = _sym(expr).xreplace(value)
    for s in e.free_symbols:  # symbols declared positive/negative are facts too
        if s not in sign and (s.is_positive or s.is_negative):
            sign[s] = 1 if s.is_positive else -1
    subs: dict[sp.Symbol, sp.Expr] = {}
    pos: list[sp.Symbol] = []
    for s in sorted(e.free_symbols, key=lambda q: q.name):
        if s not in sign:
            return False
        kind = mag.get(s)
        if kind == "eq1":
            subs[s] = sp.Integer(sign[s])
            continue
        p = sp.Symbol(f"_p_{s.name}", positive=True)
        pos.append(p)
        subs[s] = sign[s] * (p if kind is None else (1 + p) if kind == "gt1" else 1 / (1 + p))
    num, den = sp.fraction(sp.together(e.xreplace(subs)))
    sn, sd = _positive_poly(num, pos), _positive_poly(den, pos)
    return sn != 0 and sn == sd


def _linear_parts(e: sp.Expr, syms: Sequence[sp.Symbol]) -> tuple[np.ndarray, float] | None:
    """(coefficients, constant) of an affine expression in ``syms`` with numeric coefficients."""
    index = {s: i for i, s in enumerate(syms)}
    coeffs = np.zeros(len(syms))
    const = 0.0
    for term, c in sp.expand(e).as_coefficients_dict().items():
        if not c.is_number:
            return None
        if term == 1:
            const += float(c)
        elif term in index:
            coeffs[index[term]] += float(c)
        else:
            return None
    return coeffs, const


def _feasible(conds: Sequence[sp.Expr], syms: Sequence[sp.Symbol], sign_of: Mapping[sp.Symbol, int]) -> bool:
    """Whether {c >= 0 for c in conds} (and the symbols' sign assumptions) has interior points.

    Conditions not affine in ``syms`` are ignored (conservative: the branch is kept).
    """
    return _feasible_cached(frozenset(conds), tuple(syms), tuple(sorted(sign_of.items(), key=lambda kv: kv[0].name)))


@functools.lru_cache(maxsize=65536)
def _feasible_cached(conds: frozenset, syms: tuple, sign_items: tuple) -> bool:
    from scipy.optimize import linprog

    sign_of = dict(sign_items)

    rows, consts = [], []
    for c in conds:
        lin = _linear_parts(c, syms)
        if lin is None:
            continue
        a, b = lin
        if not a.any():
            if b < 0:
                return False
            continue
        scale = max(np.abs(a).max(), abs(b))
        rows.append(a / scale)
        consts.append(b / scale)
    for i, s in enumerate(syms):
        if sign_of.get(s):
            r = np.zeros(len(syms))
            r[i] = sign_of[s]
            rows.append(r)
            consts.append(0.0)
    if not rows:
        return True
    a = np.array(rows)
    b = np.array(consts)
    m, n = a.shape
    # max t  s.t.  a x + b >= t,  x in [-1e3, 1e3]^n, t <= 1
    res = linprog(np.r_[np.zeros(n), -1.0], A_ub=np.hstack([-a, np.ones((m, 1))]), b_ub=b,
                  bounds=[(-1e3, 1e3)] * n + [(None, 1.0)], method="highs")
    return bool(res.status == 0 and -res.fun > 1e-9)


def _pl_branches(e: sp.Expr, syms: Sequence[sp.Symbol], sign_of: Mapping[sp.Symbol, int],
                 budget: list[int]) -> list[tuple[tuple[sp.Expr, ...], sp.Expr]]:
    """All (conditions, expression without Max/Min/Abs) branches of ``e`` with feasible conditions."""
    budget[0] -= 1
    if budget[0] < 0:
        raise DerivationError("piecewise-linear identity has too many cases to check")
    if not e.has(sp.Max, sp.Min, sp.Abs):
        return [((), e)]
    if isinstance(e, (sp.Max, sp.Min, sp.Abs)):
        args = e.args
        combos = _combine([_pl_branches(a, syms, sign_of, budget) for a in args], syms, sign_of)
        out = []
        for conds, vals in combos:
            if isinstance(e, sp.Abs):
                choices = [((vals[0],), vals[0]), ((-vals[0],), -vals[0])]
            else:
                choices = []
                for i, vi in enumerate(vals):
                    diff = [(vi - vj) if isinstance(e, sp.Max) else (vj - vi) for j, vj in enumerate(vals) if j != i]
                    choices.append((tuple(diff), vi))
            for extra, val in choices:
                cs = conds + extra
                if _feasible(cs, syms, sign_of):
                    out.append((cs, val))
        return out
    combos = _combine([_pl_branches(a, syms, sign_of, budget) for a in e.args], syms, sign_of)
    return [(conds, e.func(*vals)) for conds, vals in combos]


def _combine(lists: list[list[tuple[tuple[sp.Expr, ...], sp.Expr]]], syms: Sequence[sp.Symbol],
             sign_of: Mapping[sp.Symbol, int]) -> list[tuple[tuple[sp.Expr, ...], list[sp.Expr]]]:
    out: list[tuple[tuple[sp.Expr, ...], list[sp.Expr]]] = [((), [])]
    for lst in lists:
        nxt = []
        for conds, vals in out:
            for c2, v2 in lst:
                cs = conds + c2
                if len(lst) > 1 and not _feasible(cs, syms, sign_of):
                    continue
                nxt.append((cs, [*vals, v2]))
        out = nxt
    return out


def prove_identity(lhs: Any, rhs: Any, facts: Iterable[Any] = (), max_cases: int = 20000) -> bool:
    """Prove ``lhs == rhs`` for all real values of the free symbols (given exact-value facts).

    Without ``Max``/``Min``/``Abs``: ``expand(lhs - rhs) == 0``, then ``simplify``. With them
    (piecewise-linear identities such as ``Max(a, 0) - Max(-a, 0) = a``): every combination of
    branches (which argument of each ``Max``/``Min`` is largest/smallest, the sign under each
    ``Abs``) whose conditions have interior points (a linear program; symbols' sign assumptions
    included) must make ``lhs - rhs`` expand to 0. Branch conditions must be affine in the
    symbols for this to be a proof; non-affine conditions are kept (conservative).
    """
    sign, _mag, value = _facts_table(facts)
    diff = (_sym(lhs) - _sym(rhs)).xreplace(value)
    if not diff.has(sp.Max, sp.Min, sp.Abs):
        if sp.expand(diff) == 0 or sp.cancel(sp.together(diff)) == 0:
            return True
        return bool(sp.simplify(diff) == 0)
    syms = _free(diff)
    sign_of = dict(sign)
    for s in syms:
        if s.is_positive or s.is_nonnegative:
            sign_of.setdefault(s, 1)
        elif s.is_negative or s.is_nonpositive:
            sign_of.setdefault(s, -1)
    branches = _pl_branches(diff, syms, sign_of, [max_cases])
    return all(sp.expand(val) == 0 for _conds, val in branches)


def _prove(st: sp.Expr, facts: list[sp.Expr]) -> bool:
    """Prove a deduce statement from facts (results cached: audits re-prove the same statements)."""
    return _prove_cached(st, tuple(sorted(set(facts), key=sp.default_sort_key)))


@functools.lru_cache(maxsize=2048)
def _prove_cached(st: sp.Expr, facts: tuple[sp.Expr, ...]) -> bool:
    facts = list(facts)
    if isinstance(st, sp.And):
        return all(_prove(a, facts) for a in st.args)
    if isinstance(st, sp.Equality):
        return prove_identity(st.args[0], st.args[1], facts)
    lhs, rhs = st.args
    g = lhs - rhs if isinstance(st, (sp.StrictGreaterThan, sp.GreaterThan)) else rhs - lhs
    if isinstance(st, (sp.GreaterThan, sp.LessThan)) and prove_identity(g, 0, facts):
        return True
    return prove_positive(g, facts)
