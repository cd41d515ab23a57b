"""The symbolic network: outputs, linear pieces and their constraints."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import sympy as sp

from symest.derivation._errors import DerivationError
from symest.derivation._symbols import _require_rnn, relu, w, x
from symest.model import Model


def _sym_mats(d: int, k: int, bias: bool = False) -> tuple[sp.Matrix, sp.Matrix, sp.Matrix, sp.Matrix | None]:
    w_hi = sp.Matrix(d, 1, lambda i, _j: w("W_hi", i))
    w_hh = sp.Matrix(d, d, lambda i, j: w("W_hh", i, j))
    w_oh = sp.Matrix(k, d, lambda i, j: w("W_oh", i, j))
    b = sp.Matrix(d, 1, lambda i, _j: w("b_hi", i) + w("b_hh", i)) if bias else None
    return w_hi, w_hh, w_oh, b


def network_outputs(d: int, n: int, k: int | None = None) -> sp.Matrix:
    """Symbolic outputs of a bias-free ReLU RNN with ReLU = ``Max(., 0)`` (k defaults to n)."""
    k = n if k is None else k
    w_hi, w_hh, w_oh, _ = _sym_mats(d, k)
    h = sp.zeros(d, 1)
    for t in range(n):
        pre = w_hh * h + w_hi * x(t)
        h = pre.applyfunc(relu)
    return w_oh * h


def piece_outputs(d: int, n: int, pattern: Sequence[int], k: int | None = None) -> sp.Matrix:
    """Symbolic outputs on the linear piece with activation ``pattern`` (bits for (t, i), t-major,
    as in :mod:`symest.regions`): ``W_oh diag(s_{n-1}) (W_hh ... ) x``, linear in x."""
    k = n if k is None else k
    if len(pattern) != d * n:
        raise DerivationError(f"pattern has {len(pattern)} bits, expected {d * n}")
    w_hi, w_hh, w_oh, _ = _sym_mats(d, k)
    h = sp.zeros(d, 1)
    for t in range(n):
        pre = w_hh * h + w_hi * x(t)
        h = sp.Matrix([pre[i] if pattern[t * d + i] else 0 for i in range(d)])
    return (w_oh * h).applyfunc(sp.expand)


def piece_constraints(d: int, n: int, pattern: Sequence[int]) -> list[sp.Expr]:
    """The linear piece of ``pattern`` as relations ``Z_t[i] >= 0`` (active) / ``Z_t[i] <= 0``."""
    w_hi, w_hh, _w_oh, _ = _sym_mats(d, 1)
    h = sp.zeros(d, 1)
    out = []
    for t in range(n):
        pre = (w_hh * h + w_hi * x(t)).applyfunc(sp.expand)
        for i in range(d):
            out.append(sp.GreaterThan(pre[i], 0) if pattern[t * d + i] else sp.LessThan(pre[i], 0))
        h = sp.Matrix([pre[i] if pattern[t * d + i] else 0 for i in range(d)])
    return out


def linear_pieces(model: Model, steps: int | None = None) -> list[tuple[int, ...]]:
    """Activation patterns (bits for (t, i), t-major) of the model's linear pieces with nonempty
    interior, by depth-first splitting on each pre-activation's sign (emptiness by LP). With
    ``steps`` < n, the pieces of the first ``steps`` steps only (cones in R^n that leave the later
    inputs free; their constraints are ``piece_constraints(d, steps, pattern)``)."""
    from symest.cones import Cone, is_empty

    _require_rnn(model)
    if model.has_bias:
        raise DerivationError(f"linear pieces are cones only for bias-free RNNs; {model.name} has biases")
    d, n = model.hidden, model.seq_len
    stop = n if steps is None else int(steps)
    if not 1 <= stop <= n:
        raise DerivationError(f"steps must lie in 1..{n}, got {steps}")
    out: list[tuple[int, ...]] = []

    def step_input(t: int) -> np.ndarray:
        z = np.zeros((d, n))
        z[:, t] = model.W_hi[:, 0]
        return z

    Item = tuple[np.ndarray, int, int, np.ndarray, tuple[int, ...]]
    stack: list[Item] = [(np.zeros((0, n)), 0, 0, step_input(0), ())]
    while stack:
        normals, t, i, state, pattern = stack.pop()
        if t == stop:
            out.append(pattern)
            continue
        row = state[i]
        kids = []
        if not np.any(row):
            kids.append((normals, state, 0))
        else:
            for sign, bit in ((1.0, 1), (-1.0, 0)):
                cone = np.vstack([normals, sign * row])
                if is_empty(Cone(cone)):
                    continue
                st = state
                if bit == 0:
                    st = state.copy()
                    st[i] = 0.0
                kids.append((cone, st, bit))
        for cone, st, bit in reversed(kids):
            tt, ii = t, i + 1
            if ii == d:
                tt, ii = t + 1, 0
                if tt < stop:
                    st = model.W_hh @ st + step_input(tt)
            stack.append((cone, tt, ii, st, (*pattern, bit)))
    return out
