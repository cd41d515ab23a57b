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
zero is inactive (ReLU(0) = 0) without a split. A piece with ``t == n`` is a leaf region.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symest._errors import MethodError
from symest.cones import Cone
from symest.flops import Tally
from symest.model import Model


@dataclass(frozen=True, eq=False)
class Piece:
    cone: Cone
    t: int
    i: int
    state: np.ndarray  # (d, n): Z_t with rows < i rectified; at a leaf (t == n), H_{n-1}
    pattern: tuple[int, ...] = ()

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


def root(model: Model, cone: Cone) -> Piece:
    """The tree's root inside ``cone``: step 0, no neuron decided."""
    return Piece(cone, 0, 0, _step_input(model, 0))


def expand(model: Model, piece: Piece, tally: Tally, empty: callable) -> list[Piece]:
    """Children of ``piece`` (one or two), deciding neuron ``piece.i`` of step ``piece.t``.

    ``empty(cone, tally) -> bool`` tests whether a cone has empty interior (and bills it).
    """
    d, n = model.hidden, model.seq_len
    row = piece.state[piece.i]
    tally.pointwise("abs", n)
    children: list[tuple[Cone, np.ndarray, int]] = []
    if not np.any(row):
        children.append((piece.cone, piece.state, 0))
    else:
        for sign, bit in ((1.0, 1), (-1.0, 0)):
            cone = piece.cone.intersect((sign * row)[None])
            if empty(cone, tally):
                continue
            state = piece.state
            if bit == 0:
                state = state.copy()
                state[piece.i] = 0.0
            children.append((cone, state, bit))
    out = []
    for cone, state, bit in children:
        t, i = piece.t, piece.i + 1
        if i == d:  # step done: H_t = state; move to Z_{t+1} (or stop at the leaf)
            t, i = t + 1, 0
            if t < n:
                tally.einsum("ij,jk->ik", (d, d), (d, n))
                tally.pointwise("add", d * n)
                state = model.W_hh @ state + _step_input(model, t)
        out.append(Piece(cone, t, i, state, (*piece.pattern, bit)))
    return out


def leaf_outputs(model: Model, piece: Piece, tally: Tally) -> np.ndarray:
    """The output map W_oh H on a leaf region: outputs = L x, shape (k, n)."""
    tally.einsum("ij,jk->ik", model.W_oh.shape, piece.state.shape)
    return model.W_oh @ piece.state
