"""One FLOP cost model for every estimator, sampling included: flopscope's.

flopscope (the analytical FLOP counter of ARC's estimation challenge) bills NumPy operations
by formula: a dense contraction counts multiplies and adds separately (a (d x d) @ (d,) product
costs 2d^2 - d), elementwise add/multiply/compare/max cost 1 per element, exp/log/trig 16,
sqrt 1, sorts 4 n ceil(log2 n), reductions (n - 1) per slice, and so on; float64 operands are
billed twice float32 ones (flopscope's dtype-aware billing). Sampling runs in the model's
precision (float32 for trained models); symest's exact methods work in float64 and pay double.

symest does not re-implement those weights. Code paths whose cost we report are written once
against an array namespace ``xp``; :func:`count` runs such a function under
``flopscope.numpy`` on representative (small) inputs and reads off flopscope's own total, and
:func:`op_cost` exposes flopscope's analytical helpers for costs computed from sizes.

What sampling is charged (per sample): the model's forward pass and the task's score (for rank
tasks the rank-count check of :mod:`symest.tasks`, cheaper than a sort). Drawing the random
inputs is *not* charged, as in ARC's accounting; this favours sampling, so any advantage a
mechanistic estimator shows is conservative. ARC's hand counts (e.g. 72 operations per sample
for M_{4,3}) count a multiply-add as one operation and skip ReLUs and the target; flopscope
gives 218 + 7 for the same sample. Comparisons inside symest always use flopscope's numbers.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np


def count(fn: Callable[..., Any], *arrays: Any) -> int:
    """FLOPs flopscope bills for ``fn(fnp, *arrays)``, ``fnp`` being ``flopscope.numpy``.

    ``arrays`` (NumPy arrays or dicts of them) are wrapped as flopscope arrays outside the
    budget, so creating them is not billed.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import flopscope as flops
        import flopscope.numpy as fnp

        def wrap(a: Any) -> Any:
            return {k: wrap(v) for k, v in a.items()} if isinstance(a, dict) else fnp.array(a)

        wrapped = [wrap(a) for a in arrays]
        with flops.BudgetContext(flop_budget=10**18, quiet=True) as budget:
            fn(fnp, *wrapped)
    return int(budget.flops_used)


def op_cost(kind: str, *args: Any, **kwargs: Any) -> int:
    """flopscope's analytical cost helper ``flopscope.accounting.<kind>_cost``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from flopscope import accounting

        return int(getattr(accounting, f"{kind}_cost")(*args, **kwargs))


@functools.lru_cache(maxsize=256)
def _per_sample(arch_key: tuple, task_name: str, dtype: str) -> int:
    from symest.forward import outputs
    from symest.tasks import get_task

    shapes, seq_len = dict(arch_key[0]), arch_key[1]
    task = get_task(task_name)
    weights = {k: np.ones(s, dtype=dtype) for k, s in shapes.items()}
    if task.inputs == "function":
        x = np.zeros((1, seq_len), dtype=np.int64)
    else:
        x = np.linspace(-1, 1, seq_len, dtype=dtype)[None]
    return count(lambda fnp, w, xa: task.score(xa, outputs(w, xa, fnp), fnp), weights, x)


def per_sample_flops(model: Any) -> int:
    """flopscope FLOPs of one sample's forward pass plus its score, in the model's precision."""
    key = (tuple(sorted((k, v.shape) for k, v in model.weights.items())), model.seq_len)
    return _per_sample(key, model.task.name, model.dtype)


class Tally:
    """A running FLOP count for data-dependent algorithms, priced by flopscope's helpers.

    ``factor`` is flopscope's dtype rate: 2 for float64 work (symest's exact methods), 1 for
    float32. Each method adds the cost of one operation of the given shapes.
    """

    def __init__(self, factor: int = 2) -> None:
        self.factor = factor
        self.total = 0

    def einsum(self, subscripts: str, *shapes: tuple[int, ...]) -> None:
        self.total += self.factor * _einsum(subscripts, tuple(shapes))

    def pointwise(self, op: str, size: int) -> None:
        self.total += self.factor * _pointwise(op, size)

    def add(self, flops: int) -> None:
        self.total += int(flops)


@functools.lru_cache(maxsize=4096)
def _einsum(subscripts: str, shapes: tuple[tuple[int, ...], ...]) -> int:
    return op_cost("einsum", subscripts, [tuple(s) for s in shapes])


@functools.lru_cache(maxsize=4096)
def _pointwise(op: str, size: int) -> int:
    return op_cost("pointwise", op, shape=(size,))
