"""AlgZoo's tasks: input distributions, targets and figures of merit.

A task is immutable data plus pure functions written once against an array namespace ``xp``
(``numpy`` or ``jax.numpy``), so the NumPy and JAX paths compute the same thing.

| task          | inputs                              | target                                   | metric   |
|---------------|-------------------------------------|------------------------------------------|----------|
| 2nd_argmax    | x_i iid N(0, 1), i < n              | index of the 2nd largest x_i             | accuracy |
| argmax        | same                                | index of the largest x_i                 | accuracy |
| argmedian     | same, n odd                         | index of the median x_i                  | accuracy |
| median        | same                                | median (mean of the middle two, n even)  | RMSE     |
| argoutlier    | same                                | argmax_i |x_i - mean(x)|                 | accuracy |
| longest_cycle | f(i) iid uniform on {0..n-1}        | (length of f's longest cycle) - 1        | accuracy |

Accuracy is P(argmax of the logits = target); ties among Gaussian inputs have probability 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from symest._errors import TaskError

Array = Any  # numpy or jax array


def _rank_target(x: Array, xp: Any, above: int) -> Array:
    """Position of the input with exactly ``above`` inputs larger than it."""
    return xp.argsort(x, axis=-1)[..., x.shape[-1] - 1 - above]


def _rank_score(x: Array, out: Array, xp: Any, above: int) -> Array:
    """Correctness for rank tasks without sorting.

    The prediction p = argmax(logits) is right iff exactly ``above`` inputs exceed x_p (ties
    have probability zero): n compares and n - 1 adds instead of an n log n sort.
    """
    pred = xp.argmax(out, axis=-1)
    x_pred = xp.take_along_axis(x, pred[..., None], axis=-1)
    return (x > x_pred).sum(axis=-1) == above


def _median(x: Array, xp: Any) -> Array:
    s = xp.sort(x, axis=-1)
    n = x.shape[-1]
    return (s[..., (n - 1) // 2] + s[..., n // 2]) / 2


def _argoutlier(x: Array, xp: Any) -> Array:
    return xp.argmax(xp.abs(x - x.mean(axis=-1, keepdims=True)), axis=-1)


def _longest_cycle(f: Array, xp: Any) -> Array:
    """(longest cycle length) - 1 for functions f given as tables of shape (..., n).

    Iterates cur = f^k(i) for k = 1..n; i lies on a cycle of length k iff f^k(i) = i first at k.
    """
    n = f.shape[-1]
    idx = xp.arange(n)
    cur = f
    length = xp.zeros_like(f)
    for k in range(1, n + 1):
        length = xp.where((cur == idx) & (length == 0), k, length)
        cur = xp.take_along_axis(f, cur, axis=-1)
    return length.max(axis=-1) - 1


@dataclass(frozen=True)
class Task:
    """One AlgZoo task.

    ``inputs`` says how inputs are drawn ("gaussian": iid N(0,1) floats; "function": iid uniform
    integers in {0..n-1}); ``output`` is "dist" (n logits, metric accuracy) or "scalar" (one
    output, metric RMSE); ``target(x, xp)`` maps a batch of inputs (..., n) to targets.
    """

    name: str
    inputs: Literal["gaussian", "function"]
    output: Literal["dist", "scalar"]
    custom_target: Callable[[Array, Any], Array] | None = None
    rank: Callable[[int], int] | None = None
    min_len: int = 2
    odd_only: bool = False

    def above(self, seq_len: int) -> int | None:
        """For rank tasks, how many inputs lie above the target (2nd_argmax: 1); else None."""
        return None if self.rank is None else self.rank(seq_len)

    def target(self, x: Array, xp: Any) -> Array:
        if self.rank is not None:
            return _rank_target(x, xp, self.rank(x.shape[-1]))
        return self.custom_target(x, xp)

    def score(self, x: Array, out: Array, xp: Any) -> Array:
        """Per-sample score: 1 if correct (dist tasks), squared error (scalar tasks)."""
        if self.output == "scalar":
            return (out[..., 0] - self.target(x, xp)) ** 2
        if self.rank is not None:
            return _rank_score(x, out, xp, self.rank(x.shape[-1]))
        return xp.argmax(out, axis=-1) == self.target(x, xp)

    @property
    def metric(self) -> str:
        return "accuracy" if self.output == "dist" else "rmse"

    def out_size(self, seq_len: int) -> int:
        return seq_len if self.output == "dist" else 1

    def check_seq_len(self, seq_len: int) -> None:
        if seq_len < self.min_len:
            raise TaskError(f"task {self.name} needs sequence length >= {self.min_len}, got {seq_len}")
        if self.odd_only and seq_len % 2 == 0:
            raise TaskError(f"task {self.name} needs an odd sequence length, got {seq_len}")


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("2nd_argmax", "gaussian", "dist", rank=lambda n: 1),
        Task("argmax", "gaussian", "dist", rank=lambda n: 0, min_len=1),
        Task("argmedian", "gaussian", "dist", rank=lambda n: n // 2, min_len=1, odd_only=True),
        Task("median", "gaussian", "scalar", _median, min_len=1),
        Task("argoutlier", "gaussian", "dist", _argoutlier),
        Task("longest_cycle", "function", "dist", _longest_cycle, min_len=1),
    )
}


def get_task(name: str) -> Task:
    """The task called ``name``; unknown names raise TaskError listing the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise TaskError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}") from None
