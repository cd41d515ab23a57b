"""Regions and cone measures: constraint normals, measure leaves, the compute Context."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from symest.derivation._errors import DerivationError
from symest.derivation._evaluate import evaluate, expr_flops
from symest.derivation._symbols import _INPUT_RE, _sym, input_symbols, weight_values
from symest.derivation._trees import expr_to_tree
from symest.model import Model


def _as_relation(c: Any) -> sp.Expr:
    c = _sym(c)
    if not isinstance(c, (sp.GreaterThan, sp.StrictGreaterThan, sp.LessThan, sp.StrictLessThan)):
        raise DerivationError(f"a region constraint must be an inequality, got {str(c)[:60]}")
    return c


def _constraint_expr(c: sp.Expr) -> sp.Expr:
    """``g`` with the constraint reading ``g >= 0``."""
    lhs, rhs = c.args
    return lhs - rhs if isinstance(c, (sp.GreaterThan, sp.StrictGreaterThan)) else rhs - lhs


@functools.lru_cache(maxsize=8192)
def _normal_fn(g: sp.Expr, n: int) -> tuple[list[sp.Symbol], Callable[..., Any], sp.Matrix]:
    xs = input_symbols(n)
    extra = [s for s in g.free_symbols if _INPUT_RE.match(s.name) and int(s.name[2:]) >= n]
    if extra:
        raise DerivationError(f"constraint {str(g)[:60]} mentions {extra[0]} but inputs are x_0..x_{n - 1}")
    grad = sp.Matrix([sp.diff(g, xi) for xi in xs])
    if any(gi.free_symbols & set(xs) for gi in grad) or sp.expand(g.xreplace(dict.fromkeys(xs, 0))) != 0:
        raise DerivationError(f"constraint {str(g)[:60]} is not linear and homogeneous in x_0..x_{n - 1}")
    syms = sorted(set().union(*[gi.free_symbols for gi in grad]), key=lambda s: s.name)
    fn = sp.lambdify(syms, list(grad), modules="numpy")
    return syms, fn, grad


def constraint_normals(constraints: Sequence[Any], n: int, values: Mapping[sp.Symbol, float]) -> np.ndarray:
    """Numeric cone normals (rows) of symbolic constraints at the given weights."""
    rows = []
    for c in constraints:
        if isinstance(c, np.ndarray):
            rows.append(np.asarray(c, dtype=np.float64).reshape(-1, n))
            continue
        syms, fn, _ = _normal_fn(_constraint_expr(_as_relation(c)), n)
        missing = [s.name for s in syms if s not in values]
        if missing:
            raise DerivationError(f"constraint mentions {missing[0]}, which has no value here")
        rows.append(np.asarray(fn(*[values[s] for s in syms]), dtype=np.float64).reshape(1, n))
    return np.vstack(rows) if rows else np.zeros((0, n))


def _constraint_flops(constraints: Sequence[Any], n: int) -> int:
    total = 0
    for c in constraints:
        if isinstance(c, np.ndarray):
            continue
        _, _, grad = _normal_fn(_constraint_expr(_as_relation(c)), n)
        total += sum(expr_flops(g) for g in grad)
    return total


def cone_measure(normals: np.ndarray) -> Any:
    """:func:`symest.cones.gaussian_measure` of ``{x : normals @ x >= 0}``.

    Results are memoized by the normals' bytes (the function is deterministic), so an audit on
    the same weights does not pay twice."""
    a = np.ascontiguousarray(normals, dtype=np.float64)
    return _cone_measure(a.tobytes(), a.shape)


def _cone_empty(normals: np.ndarray) -> bool:
    a = np.ascontiguousarray(normals, dtype=np.float64)
    return _cone_empty_cached(a.tobytes(), a.shape)


@functools.lru_cache(maxsize=65536)
def _cone_empty_cached(raw: bytes, shape: tuple[int, ...]) -> bool:
    from symest.cones import Cone, is_empty

    return is_empty(Cone(np.frombuffer(raw, dtype=np.float64).reshape(shape)))


@functools.lru_cache(maxsize=65536)
def _cone_measure(raw: bytes, shape: tuple[int, ...]) -> Any:
    from symest.cones import Cone, gaussian_measure

    a = np.frombuffer(raw, dtype=np.float64).reshape(shape)
    if shape[1] == 3 and (got := _spherical_measure(a)) is not None:
        return got
    return gaussian_measure(Cone(a))


def _spherical_measure(a: np.ndarray) -> Any:
    """3-D: the cone cut on the sign of sum(x) into two halves, each built as an exact spherical
    polygon (:mod:`symest.spherical`: three independent constraints give a simplicial start, the
    others clip it one by one, Van Oosterom-Strackee areas; far cheaper than the general path).
    None when a half contains a line (its constraints have rank < 3, e.g. a lone half-space):
    then the general :func:`symest.cones.gaussian_measure` is used."""
    from symest.cones import Measure
    from symest.flops import Tally
    from symest.spherical import ROUNDING, from_normals

    tally, total = Tally(), 0.0
    a = a[np.any(a != 0, axis=1)]  # 0 . x >= 0 holds everywhere
    for sign in (1.0, -1.0):
        rows = np.vstack([sign * np.ones(3), a])
        start = _independent_triple(rows, tally)
        if start is None:
            return None
        cone = from_normals(rows[list(start)], tally)
        for k in range(len(rows)):
            if cone is None:
                break
            if k not in start:
                cone = cone.split(rows[k], tally)[0]
        if cone is not None:
            total += cone.measure(tally)
    return Measure(total, 2 * ROUNDING, True, tally.total)


def _independent_triple(rows: np.ndarray, tally: Any) -> tuple[int, int, int] | None:
    """Row 0 and the first two rows that make it a basis of R^3 (greedy), or None (rank < 3)."""
    top = float(np.abs(rows).max())
    cross = np.cross(rows[0], rows[1:])
    tally.pointwise("multiply", 9 * (len(rows) - 1))
    i = next((k for k in range(len(cross)) if np.abs(cross[k]).max() > 1e-9 * top**2), None)
    if i is None:
        return None
    det = rows[1:] @ cross[i]
    tally.pointwise("multiply", 5 * (len(rows) - 1))
    j = next((k for k in range(len(det)) if abs(det[k]) > 1e-9 * top**3), None)
    return None if j is None else (0, i + 1, j + 1)


@dataclass(frozen=True)
class Measure_:
    """A serializable compute: the Gaussian measure of (enclosing region) ∩ ``constraints``."""

    constraints: tuple[Any, ...]
    within_region: bool = True

    def describe(self) -> str:
        inner = " ∧ ".join(str(c) for c in self.constraints) or "everything"
        return f"Gaussian measure of {'region ∧ ' if self.within_region else ''}{inner}"


def measure(*constraints: Any, within_region: bool = True) -> Measure_:
    """A compute leaf: P(x in enclosing branch region ∩ constraints), x ~ N(0, I), by
    :func:`symest.cones.gaussian_measure`. Constraints: SymPy inequalities linear in x_i
    (coefficients may involve weight symbols) or numeric normal rows (then not re-auditable
    against other weights symbolically, but stored)."""
    return Measure_(tuple(c if isinstance(c, np.ndarray) else _as_relation(c) for c in constraints), within_region)


@dataclass(frozen=True)
class Computed:
    """What a callable compute step may return."""

    value: float
    flops: int = 0
    error_bound: float = 0.0
    exact: bool = True


class Context:
    """What callable compute/presume steps see: the current (reparametrized) model, weight
    values, the enclosing region, and earlier results by name."""

    def __init__(self, model: Model, region: Sequence[Any], results: dict[str, float]) -> None:
        self.model = model
        self.values = weight_values(model)
        self.region = list(region)
        self.results = results

    @property
    def n(self) -> int:
        return self.model.seq_len

    def result(self, name: str) -> float:
        if name not in self.results:
            raise DerivationError(f"no earlier result called {name!r}")
        return self.results[name]

    def value(self, e: Any) -> Any:
        return evaluate(e, self.values)

    def normals(self, *extra: Any) -> np.ndarray:
        return constraint_normals([*self.region, *extra], self.n, self.values)

    def cone(self, *extra: Any) -> Any:
        from symest.cones import Cone

        return Cone(self.normals(*extra))

    def measure(self, *extra: Any) -> Any:

        return cone_measure(self.normals(*extra))


def _region_item(c: Any) -> Any:
    if isinstance(c, np.ndarray):
        return {"normals": np.asarray(c, dtype=np.float64).reshape(-1, c.shape[-1]).tolist()}
    return expr_to_tree(c)


def _region_text(c: Any) -> str:
    if isinstance(c, np.ndarray):
        return "normals " + np.array2string(np.asarray(c).reshape(-1, c.shape[-1]), precision=4)
    return str(c)


PARTITION_MAX_BRANCHES = 24
PARTITION_MAX_DIM = 3


def _verify_partition(parent: list[Any], regions: list[list[Any]], n: int, values: Mapping[sp.Symbol, float],
                      mode: str) -> tuple[bool | None, str, list[float | None]]:
    """Whether the regions partition the parent (up to measure zero): measures add up and pairwise
    intersections have empty interior. Skipped ("auto") above 24 branches or 3 dimensions."""
    k = len(regions)
    if mode == "never" or (mode == "auto" and (k > PARTITION_MAX_BRANCHES or n > PARTITION_MAX_DIM)):
        return None, "partition not verified (too many branches or dimensions for a cheap check)", [None] * k
    normals = [constraint_normals(r, n, values) for r in regions]
    ms = [cone_measure(a) for a in normals]
    parent_m = cone_measure(constraint_normals(parent, n, values))
    total = sum(m.value for m in ms)
    tol = 1e-9 + sum(m.error_bound for m in ms) + parent_m.error_bound
    adds = abs(total - parent_m.value) <= tol
    overlaps = [(i, j) for i, j in itertools.combinations(range(k), 2)
                if not _cone_empty(np.vstack([normals[i], normals[j]]))]
    ok = adds and not overlaps
    note = f"measures add up to {total:.12g} (enclosing region {parent_m.value:.12g})"
    if overlaps:
        note += f"; overlapping branches {overlaps[:3]}"
    return ok, note, [m.value for m in ms]
