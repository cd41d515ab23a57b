"""ARC's handcrafted 2nd_argmax RNNs (exact constructions from AlgZoo's write-up).

* n = 2, d = 2: h_2 = (ReLU(x1 - x0), ReLU(x0 - x1)), logits (x1 - x0, x0 - x1): accuracy 1.
* n = 3, d = 4, parameter lambda (default 100): accuracy -> 1 as lambda grows.
* n = 10, d = 22: each logit is max(0, x_i) + 2 max(0, max_{j != i} x_j); about 99%, errors
  when fewer than two inputs are positive.

Weights are float64 (``dtype="float64"``): the n = 3 construction needs the precision.
"""

from __future__ import annotations

import numpy as np

from symest.model import Model, make_model
from symest.tasks import get_task


def _model(n: int, w_hi: np.ndarray, w_hh: np.ndarray, w_oh: np.ndarray, name: str, **prov: str) -> Model:
    weights = {"rnn.weight_ih_l0": w_hi, "rnn.weight_hh_l0": w_hh, "linear.weight": w_oh}
    return make_model(get_task("2nd_argmax"), n, weights, name=name, dtype="float64",
                      provenance={"source": "handcrafted (ARC, AlgZoo)", **prov})


def handcrafted_2() -> Model:
    return _model(2, np.array([[1.0], [-1.0]]), np.array([[-1.0, 1.0], [1.0, -1.0]]),
                  np.array([[1.0, -1.0], [-1.0, 1.0]]), "handcrafted_2nd_argmax_2")


def handcrafted_3(lam: float = 100.0) -> Model:
    fc1 = np.array([[1, -lam - 1, lam], [-1, -lam, lam + 1]], dtype=np.float64)
    fc2 = np.array([[1, 1], [-lam, lam + 1], [lam + 1, -lam]], dtype=np.float64)
    u = np.array([[1, 0, 0, -1], [0, 1, -1, 0]], dtype=np.float64)
    v = np.array([[1, 0, 0, 1], [0, 1, 1, 0]], dtype=np.float64)
    w_hi = u.T @ fc1[:, 2:]
    w_hh = u.T @ fc1[:, :2] @ np.linalg.inv(fc1[:, 1:]) @ u
    return _model(3, w_hi, w_hh, fc2 @ v, "handcrafted_2nd_argmax_3", **{"lambda": repr(lam)})


def handcrafted_10() -> Model:
    d, n = 22, 10
    w_hi, w_hh, w_oh = np.zeros((d, 1)), np.zeros((d, d)), np.zeros((n, d))
    w_hi[9] = 1
    for i in range(9):
        w_hh[i, i + 1] = 1
    w_hi[19], w_hh[19, 19], w_hh[19, 20] = 1, -1, -1
    w_hh[20, 19], w_hh[20, 20] = 1, 1
    w_hi[21], w_hh[21, 19], w_hh[21, 20] = -1, 1, 1
    w_hh[18, 20], w_hi[18] = 1, -1
    for i in range(10, 18):
        w_hh[i, i + 1], w_hh[i, 21], w_hh[i, 20], w_hh[i, 19], w_hi[i] = 1, -1, 1, 1, -1
    for i in range(10):
        w_oh[i, i] = 1
    for i in range(9):
        w_oh[i, 10 + i], w_oh[i, 21], w_oh[i, 20], w_oh[i, 19] = 2, -2, 2, 2
    w_oh[9, 20] = 2
    return _model(n, w_hi, w_hh, w_oh, "handcrafted_2nd_argmax_10")


HANDCRAFTED = {
    "handcrafted_2nd_argmax_2": handcrafted_2,
    "handcrafted_2nd_argmax_3": handcrafted_3,
    "handcrafted_2nd_argmax_10": handcrafted_10,
}
