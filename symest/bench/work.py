"""One unit of benchmark work, as a pure function any executor can run.

A :class:`WorkItem` names a model (as a :class:`~symest.bench.noise.ModelSpec`), the noise
(sigma, seed, copy index) and what to compute: an estimator at a budget, or the copy's ground
truth. :func:`run_item` rebuilds the noisy copy, runs it and returns plain JSON-ready data; it
depends on nothing else, so the local process pool, Ray and the in-process executor return
identical numbers (``seconds`` aside).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from symest._errors import BudgetError, SymestError
from symest.bench.noise import ModelSpec, derived_seed, noisy_copy

TRUTH_EXACT = "truth:exact"
TRUTH_SAMPLING = "truth:sampling"


@dataclass(frozen=True)
class WorkItem:
    spec: ModelSpec
    sigma: float
    seed: int
    copy: int
    method: str  # an estimator name, or TRUTH_EXACT / TRUTH_SAMPLING
    budget: float | None = None
    samples: int | None = None  # TRUTH_SAMPLING only

    @property
    def method_seed(self) -> int:
        """The seed passed to the estimator: a function of (seed, copy, budget) (sampling's own seed)."""
        if self.method == TRUTH_SAMPLING:
            return derived_seed(self.seed, self.copy, "truth", self.samples or 0)
        return derived_seed(self.seed, self.copy, self.budget or 0)

    def cost_hint(self) -> float:
        """A rough size, used only to start big items first (better load balance)."""
        if self.method.startswith("truth"):
            return float(self.samples or 1e12)
        return float(self.budget or 0.0)


def _estimate_fields(e: Any) -> dict[str, Any]:
    return {"value": float(e.value), "kind": e.kind, "flops": int(e.flops),
            "stderr": None if e.stderr is None else float(e.stderr),
            "error_bound": None if e.error_bound is None else float(e.error_bound),
            "lower": None if e.lower is None else float(e.lower),
            "upper": None if e.upper is None else float(e.upper),
            "samples": e.samples}


TRUTH_EXACT_BUDGET = 1e8  # FLOPs an exact ground truth may take before sampling takes over


def run_item(item: WorkItem) -> dict[str, Any]:
    """Run one item. Status ``ok`` (with the estimate's fields), ``unable`` (BudgetError: the
    method cannot run at this budget), ``inapplicable`` (another SymestError, e.g. a method
    that does not handle this model) or ``error`` (an unexpected exception: a bug)."""
    from symest.estimators import estimate

    t0 = time.perf_counter()
    out: dict[str, Any] = {"copy": item.copy, "method": item.method, "budget": item.budget}
    try:
        model = noisy_copy(item.spec.build(), item.sigma, item.seed, item.copy)
        if item.method == TRUTH_EXACT:  # bounded: where exact cannot finish, truths are sampled
            e = estimate(model, "exact", budget=TRUTH_EXACT_BUDGET)
        elif item.method == TRUTH_SAMPLING:
            e = estimate(model, "sampling", samples=item.samples, seed=item.method_seed)
        else:  # MSE versus compute scores the value only: exact runs without its rounding
            # certificate (same value, smaller error bound skipped); ground truths keep it
            e = estimate(model, item.method, budget=item.budget, seed=item.method_seed, certify=False)
        out.update(status="ok", **_estimate_fields(e))
    except BudgetError as exc:
        out.update(status="unable", message=str(exc))
    except SymestError as exc:
        out.update(status="inapplicable", message=str(exc))
    except Exception as exc:  # a bug in an estimator: recorded, never turned into a number
        out.update(status="error", message=f"{type(exc).__name__}: {exc}")
    out["seconds"] = time.perf_counter() - t0
    return out
