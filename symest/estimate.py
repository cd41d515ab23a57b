"""The Estimate: what every estimator returns.

``kind`` states how far to trust ``value``:

* ``exact``: a closed form or exact sum, correct up to float rounding (``error_bound`` ~ 1e-12).
* ``numerical``: a numerical computation with a guaranteed ``error_bound`` on |value - truth|.
* ``bounds``: a sound interval ``[lower, upper]`` containing the truth (e.g. a budget ran out).
* ``statistical``: random sampling; ``stderr`` is the standard error of ``value``.
* ``approximate``: a stated approximation with no guarantee; ``stderr`` (when given) is the
  estimator's own uncertainty, not a bound.

``value`` is the task's figure of merit: accuracy, or RMSE for median models.
``flops`` is counted under :mod:`symest.flops` (flopscope's conventions) for every method.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["exact", "numerical", "bounds", "statistical", "approximate"]


@dataclass(frozen=True)
class Estimate:
    model: str
    method: str
    metric: str
    value: float
    kind: Kind
    flops: int
    stderr: float | None = None
    error_bound: float | None = None
    lower: float | None = None
    upper: float | None = None
    samples: int | None = None
    seconds: float = 0.0
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``estimate`` holds the value, as the command line promises)."""
        out: dict[str, Any] = {"model": self.model, "method": self.method, "metric": self.metric,
                               "estimate": self.value, "kind": self.kind, "flops": self.flops}
        for key in ("stderr", "error_bound", "lower", "upper", "samples"):
            if (v := getattr(self, key)) is not None:
                out[key] = v
        out["seconds"] = round(self.seconds, 6)
        out.update({k: v for k, v in self.details.items() if k not in out})
        return out

    def summary(self) -> str:
        """One human line, e.g. ``accuracy 0.98512 ± 0.00006 (statistical, 5.2e+08 FLOPs)``."""
        pct = self.metric == "accuracy"

        def fmt(v: float) -> str:
            return f"{100 * v:.4f}%" if pct else f"{v:.6g}"

        if self.kind == "statistical" and self.stderr is not None:
            body = f"{fmt(self.value)} ± {fmt(self.stderr)} (1 s.e.)"
        elif self.kind == "bounds":
            body = f"{fmt(self.value)} in [{fmt(self.lower or 0.0)}, {fmt(self.upper or 0.0)}]"
        elif self.error_bound is not None and self.error_bound > 0:
            body = f"{fmt(self.value)} ± {self.error_bound:.1e} (bound)"
        elif self.stderr is not None:
            body = f"{fmt(self.value)} ± {fmt(self.stderr)} (approx.)"
        else:
            body = fmt(self.value)
        return f"{self.metric} {body}  [{self.kind}, {self.flops:.3g} FLOPs]"

    def contains(self, truth: float, k: float = 5.0) -> bool:
        """Whether ``truth`` is consistent with this estimate (bounds, or k standard errors)."""
        if self.lower is not None and self.upper is not None:
            return self.lower - 1e-12 <= truth <= self.upper + 1e-12
        tol = (self.error_bound or 0.0) + k * (self.stderr or 0.0)
        return math.isclose(self.value, truth, abs_tol=max(tol, 1e-12))
