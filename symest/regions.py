"""Linear regions of a bias-free ReLU RNN, enumerated as a tree of polyhedral cones.

For inputs x in R^n, the pre-activation at step t is linear in x on each activation pattern:

    Z_t = W_hh H_{t-1} + W_hi e_t^T        (d x n; H_{-1} = 0)
    H_t = diag(s_t) Z_t,  s_{t,i} = 1[Z_t[i] . x >= 0]

so the set of inputs with a given pattern (s_0 .. s_{n-1}) is the cone
{x : (2 s_{t,i} - 1) Z_t[i] . x >= 0 for all t, i}, on which the output is W_oh H_{n-1} x.
Without biases every region is a cone through the origin, whose standard-Gaussian measure is a
solid-angle fraction.

A :class:`Piece` is a node of the tree: a cone plus the partially rectified pre-activations of
step t, with neurons < i already decided. :func:`expand` decides neuron i, splitting the cone on
the sign of Z_t[i] . x and dropping children with empty interior; a neuron whose row is exactly
zero is inactive (ReLU(0) = 0) without a split, and at step 0, where every row is W_hi[i] x_0,
one split on the sign of x_0 decides all neurons. A piece with ``t == n`` is a leaf region.

Cones are held by a *geometry* with ``split(c, tally)`` and ``measure(tally)``: in R^2 and R^3
exact ray cones (:mod:`symest.spherical`; 3-D roots must be pointed), whose boundary pieces
carry the label of the plane they lie on (("case", r), ("sum",), ("z", t, i), ("win", k)), above that :class:`LPCone`
(half-space normals, LP emptiness tests, numerical measure with a bound from
:mod:`symest.cones`). :func:`make_roots` picks the geometry by dimension.

Rounding. Rows are computed in float64, so every plane is slightly tilted from the model's
exact plane. Each piece carries an elementwise bound E >= |computed state - exact state|
(forward error analysis, gamma_k = k u / (1 - k u), u = 2^-53):

    E' = gamma_{d+1} (|W_hh| |Z| + |W_hi e_t^T|) + |W_hh| E,

and the sum ``alpha`` of the tilt angles of every plane tested on its path
(alpha <= (pi/2) ||E_row|| / ||row||). Tilting a plane by alpha moves at most alpha/pi of Gaussian
mass across it, so a region's computed measure is within alpha_total/pi of its exact measure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from symest._errors import MethodError
from symest.cones import Cone, gaussian_measure, is_empty
from symest.flops import Tally
from symest.model import Model
from symest.spherical import ROUNDING, RayCone, from_normals


def _lp_flops(m: int, n: int) -> int:
    """Charge for an interior-emptiness LP with m constraints in n variables: (m + n) simplex
    pivots of 2 m n FLOPs each, float64 (x2)."""
    return 2 * (m + n) * 2 * m * n


@dataclass(frozen=True, eq=False)
class LPCone:
    """A cone {x : A x >= 0} of any dimension: LP emptiness, numerical measure with a bound."""

    cone: Cone

    def split(self, c: np.ndarray, tally: Tally, label: object = None) -> tuple[LPCone | None, LPCone | None]:
        out = []
        for side in (c, -c):
            child = self.cone.intersect(side[None])
            tally.add(_lp_flops(*child.normals.shape))
            out.append(None if is_empty(child) else LPCone(child))
        return out[0], out[1]

    def measure(self, tally: Tally, cap: float | None = None) -> tuple[float, float, bool]:
        """Measure with a bound; ``cap`` limits its FLOPs (BudgetError if not even a first
        estimate fits, so a caller can leave the piece unresolved instead)."""
        m = gaussian_measure(self.cone, max_flops=cap)
        tally.add(m.flops)
        return m.value, m.error_bound, m.exact

    def upper_bound(self, tally: Tally, cap: float) -> float | None:
        """A cheap upper bound on the measure (loose tolerance, at most ``cap`` FLOPs), or None."""
        from symest._errors import BudgetError

        try:
            m = gaussian_measure(self.cone, rtol=0.5, max_flops=cap)
        except BudgetError:
            return None
        tally.add(m.flops)
        return m.value + m.error_bound


def measure(geometry: Any, tally: Tally, cap: float | None = None) -> tuple[float, float, bool]:
    """(value, error bound, exact?) of a piece's cone, whichever geometry holds it; ``cap``
    limits the FLOPs of numerical (dimension >= 4) measures."""
    if isinstance(geometry, RayCone):
        return geometry.measure(tally), ROUNDING, True
    return geometry.measure(tally, cap)


def make_roots(normals: np.ndarray, tally: Tally) -> list[Any]:
    """Geometries for the cone {x : normals @ x >= 0}: in R^2/R^3 split on the sign of sum(x) so
    each root is pointed (rank-task cases contain only the line through (1, ..., 1))."""
    n = normals.shape[1]
    if n > 3:
        return [LPCone(Cone(normals))]
    labels = tuple(("case", r) for r in range(len(normals)))
    if n == 2 and len(normals) == 1:
        return [RayCone.half_plane(normals[0], labels[0])]
    roots = []
    for sign in (1.0, -1.0):
        g = from_normals(np.vstack([normals, sign * np.ones(n)]), tally, (*labels, ("sum",)))
        if g is not None:
            roots.append(g)
    return roots


U = 2.0**-53


def gamma(k: int) -> float:
    """Higham's gamma_k: relative error bound of a k-term float64 sum of products."""
    return k * U / (1 - k * U)


def tilt(row: np.ndarray, err: np.ndarray) -> float:
    """Bound on the angle between a computed plane normal and the exact one."""
    r = float(np.linalg.norm(err)) / max(float(np.linalg.norm(row)), 1e-300)
    return math.pi if r >= 1 else math.pi / 2 * r


@dataclass(frozen=True, eq=False)
class Piece:
    cone: Any  # a geometry: RayCone or LPCone
    t: int
    i: int
    state: np.ndarray  # (d, n): Z_t with rows < i rectified; at a leaf (t == n), H_{n-1}
    pattern: tuple[int, ...] = ()
    err: np.ndarray | None = None  # elementwise rounding bound on ``state``
    alpha: float = 0.0  # summed tilt bound of the planes tested on the path

    def is_leaf(self, n: int) -> bool:
        return self.t == n


def check_bias_free(model: Model, method: str) -> None:
    if model.arch != "rnn":
        raise MethodError(f"method {method} handles RNNs; {model.name} is a transformer")
    if model.has_bias:
        raise MethodError(
            f"method {method} needs a bias-free RNN (its regions are cones only then); "
            f"{model.name} has bias terms: use --method sampling or covariance")


def _step_input(model: Model, t: int) -> np.ndarray:
    """W_hi e_t^T as a (d, n) matrix."""
    out = np.zeros((model.hidden, model.seq_len))
    out[:, t] = model.W_hi[:, 0]
    return out


def root(model: Model, geometry: Any, certify: bool = True) -> Piece:
    """The tree's root inside a cone: step 0, no neuron decided. ``certify`` tracks rounding
    bounds (E, alpha) for a rigorous error bound, at roughly one extra product per step."""
    z = _step_input(model, 0)
    return Piece(geometry, 0, 0, z, (), np.zeros_like(z) if certify else None, 0.0)


def _x0_side(model: Model, piece: Piece) -> float | None:
    """At step 0, the sign of x_0 on the piece if an earlier neuron's split already fixed it."""
    if piece.t != 0:
        return None
    for i, bit in enumerate(piece.pattern):
        w = model.W_hi[i, 0]
        if w != 0:
            return float(np.sign(w)) * (1.0 if bit else -1.0)
    return None


def expand(model: Model, piece: Piece, tally: Tally) -> list[Piece]:
    """Children of ``piece`` (one or two), deciding neuron ``piece.i`` of step ``piece.t``."""
    d, n = model.hidden, model.seq_len
    row = piece.state[piece.i]
    tally.pointwise("abs", n)
    children: list[tuple[Any, np.ndarray, np.ndarray, int]] = []
    alpha = piece.alpha
    x0_side = _x0_side(model, piece)
    if not np.any(row):
        children.append((piece.cone, piece.state, piece.err, 0))
    elif x0_side is not None:  # step 0: every row is W_hi[i] x_0, decided by the sign of x_0
        if x0_side * model.W_hi[piece.i, 0] > 0:
            children.append((piece.cone, piece.state, piece.err, 1))
        else:
            state = piece.state.copy()
            state[piece.i] = 0.0
            err = None if piece.err is None else piece.err.copy()
            if err is not None:
                err[piece.i] = 0.0
            children.append((piece.cone, state, err, 0))
    else:
        if piece.err is not None:
            alpha += tilt(row, piece.err[piece.i])
            tally.pointwise("multiply", 2 * n + 2)
        active, inactive = piece.cone.split(row, tally, ("z", piece.t, piece.i))
        if active is not None:
            children.append((active, piece.state, piece.err, 1))
        if inactive is not None:
            state = piece.state.copy()
            state[piece.i] = 0.0
            err = None
            if piece.err is not None:
                err = piece.err.copy()
                err[piece.i] = 0.0
            children.append((inactive, state, err, 0))
    out = []
    for cone, state, err, bit in children:
        t, i = piece.t, piece.i + 1
        if i == d:  # step done: H_t = state; move to Z_{t+1} (or stop at the leaf)
            t, i = t + 1, 0
            if t < n:
                inp = _step_input(model, t)
                on = np.flatnonzero(np.any(state, axis=1))  # inactive neurons' rows are zero
                a = len(on)
                tally.einsum("ij,jk->ik", (d, a), (a, n))
                tally.pointwise("add", d * n)
                if err is not None:  # |W_hh| (gamma |Z| + E) + gamma |W_hi e_t|: one more product
                    g = gamma(d + 1)
                    tally.einsum("ij,jk->ik", (d, a), (a, n))
                    tally.pointwise("multiply", 3 * d * n)
                    err = np.abs(model.W_hh[:, on]) @ (g * np.abs(state[on]) + err[on]) + g * np.abs(inp)
                state = model.W_hh[:, on] @ state[on] + inp
        out.append(Piece(cone, t, i, state, (*piece.pattern, bit), err, alpha))
    return out


def leaf_outputs(model: Model, piece: Piece, tally: Tally) -> np.ndarray:
    """The output map W_oh H on a leaf region: outputs = L x, shape (k, n)."""
    on = np.flatnonzero(np.any(piece.state, axis=1))
    tally.einsum("ij,jk->ik", (model.W_oh.shape[0], len(on)), (len(on), piece.state.shape[1]))
    return model.W_oh[:, on] @ piece.state[on]


def leaf_margins(model: Model, piece: Piece, j: int, tally: Tally) -> np.ndarray:
    """(W_oh[j] - W_oh[k]) H for every k (row j is zero): the logit margins of position j as
    linear forms — k - 1 products instead of the full output map."""
    on = np.flatnonzero(np.any(piece.state, axis=1))
    k, n = model.W_oh.shape[0], piece.state.shape[1]
    tally.einsum("ij,jk->ik", (k - 1, len(on)), (len(on), n))
    w = model.W_oh[j, on] - model.W_oh[:, on]
    return w @ piece.state[on]
