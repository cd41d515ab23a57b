"""The outcome of a noisy-weights benchmark: per-copy data, the summary table, JSON and a plot.

For estimator m at budget B over the K copies with true accuracies p_k and estimates q_k:

* ``rms_error`` = sqrt(mean_k (q_k - p_k)^2) and its standard error over copies
  (delta method: sd_k((q_k - p_k)^2) / (2 sqrt(K) rms));
* ``mean_flops``: FLOPs actually spent, averaged over copies (``over_budget`` counts copies that
  spent more than B);
* ``sampling_rms``: the analytic RMS error of sampling at the *same* FLOPs,
  sqrt(mean_k p_k (1 - p_k) / N) with N = mean_flops / c (c = FLOPs per sample; N fractional);
* ``advantage`` = sampling MSE / estimator MSE at those FLOPs (> 1: the estimator beats
  sampling; ``inf``: zero error, e.g. an exact result);
* ``z_rms``: RMS over copies of (q_k - p_k) / stderr_k where an estimator states a stderr (about
  1 when its uncertainty is calibrated); ``coverage``: fraction of copies whose [lower, upper]
  contains p_k where an interval is given.

A row is given numbers only when the method ran on every copy: if it was unable at that budget
(BudgetError) on any copy, the row says so and has no error value. The sampling curve lists, per
budget, N = floor(B / c) samples, the analytic RMS sqrt(mean_k p_k (1 - p_k) / N) and the measured
RMS of the ``sampling`` estimator.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

AGREE = 1e-12
"""Errors within AGREE plus both stated error bounds are float rounding and count as zero."""


def _num(x: float | None) -> float | str | None:
    """JSON-safe number: inf as the string "inf", NaN as null."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def _unnum(x: Any) -> Any:
    return math.inf if x == "inf" else -math.inf if x == "-inf" else x


@dataclass
class BenchResult:
    model: str
    task: str
    seq_len: int
    n_params: int
    dtype: str
    per_sample_flops: int
    sigma: float
    copies: int
    seed: int
    budgets: list[float]
    methods: list[str]
    truths: list[dict[str, Any] | None]
    truth_info: dict[str, Any]
    items: list[dict[str, Any]]
    executor: str = "serial"
    workers: int = 1
    wall_seconds: float = 0.0
    complete: bool = True
    notes: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------ statistics
    def truth_values(self) -> np.ndarray:
        return np.array([t["value"] if t else np.nan for t in self.truths], dtype=float)

    def mean_pq(self) -> float:
        """mean_k p_k (1 - p_k) over copies with a known truth."""
        p = self.truth_values()
        p = p[np.isfinite(p)]
        return float(np.mean(p * (1 - p))) if p.size else math.nan

    def sampling_rms_at(self, flops: float) -> float:
        """Analytic RMS error of sampling that spends ``flops`` FLOPs (fractional sample count)."""
        n = flops / self.per_sample_flops
        return math.sqrt(self.mean_pq() / n) if n > 0 else math.inf

    def _items_for(self, method: str, budget: float) -> list[dict[str, Any]]:
        return [it for it in self.items if it["method"] == method and it["budget"] == budget]

    def row(self, method: str, budget: float) -> dict[str, Any]:
        items = self._items_for(method, budget)
        p = self.truth_values()
        status = Counter(it["status"] for it in items)
        out: dict[str, Any] = {"method": method, "budget": budget, "n": len(items),
                               "status": dict(sorted(status.items())), "rms_error": None, "rms_stderr": None,
                               "mse": None, "mean_flops": None, "max_flops": None, "over_budget": None,
                               "sampling_rms": None, "advantage": None, "z_rms": None, "coverage": None,
                               "kinds": {}, "message": None}
        bad = [it for it in items if it["status"] != "ok"]
        if bad:
            out["message"] = bad[0].get("message")
        ok = [it for it in items if it["status"] == "ok" and np.isfinite(p[it["copy"]])]
        if not ok or bad:
            return out
        q = np.array([it["value"] for it in ok])
        pk = p[[it["copy"] for it in ok]]
        err = q - pk
        # exact results that agree within their stated error bounds (float rounding) have zero error
        tol = np.array([AGREE + (it.get("error_bound") or 0.0) + ((self.truths[it["copy"]] or {}).get("error_bound")
                                                                 or 0.0) for it in ok])
        err[np.abs(err) <= tol] = 0.0
        sq = err**2
        mse = float(sq.mean())
        rms = math.sqrt(mse)
        flops = np.array([it["flops"] for it in ok], dtype=float)
        mean_flops = float(flops.mean())
        samp_mse = self.sampling_rms_at(mean_flops) ** 2
        out.update(mse=mse, rms_error=rms, mean_flops=mean_flops, max_flops=float(flops.max()),
                   over_budget=int((flops > budget * (1 + 1e-9)).sum()), sampling_rms=math.sqrt(samp_mse),
                   kinds=dict(sorted(Counter(it["kind"] for it in ok).items())))
        if len(ok) > 1 and rms > 0:
            out["rms_stderr"] = float(sq.std(ddof=1) / math.sqrt(len(ok)) / (2 * rms))
        out["advantage"] = samp_mse / mse if mse > 0 else math.inf
        se = np.array([it["stderr"] if it.get("stderr") else np.nan for it in ok])
        has = np.isfinite(se) & (se > 0)
        if has.any():
            out["z_rms"] = float(np.sqrt(np.mean((err[has] / se[has]) ** 2)))
        lo = [(it.get("lower"), it.get("upper")) for it in ok]
        if all(a is not None and b is not None for a, b in lo):
            inside = [a - 1e-12 <= t <= b + 1e-12 for (a, b), t in zip(lo, pk, strict=True)]
            out["coverage"] = float(np.mean(inside))
        return out

    def rows(self) -> list[dict[str, Any]]:
        return [self.row(m, b) for m in self.methods for b in self.budgets]

    def sampling_curve(self) -> list[dict[str, Any]]:
        """Per budget: samples bought, analytic RMS, measured RMS of the ``sampling`` rows."""
        out = []
        for b in self.budgets:
            n = int(b // self.per_sample_flops)
            analytic = math.sqrt(self.mean_pq() / n) if n > 0 else None
            r = self.row("sampling", b) if "sampling" in self.methods else None
            out.append({"budget": b, "samples": n, "analytic_rms": analytic,
                        "measured_rms": None if r is None else r["rms_error"],
                        "measured_rms_stderr": None if r is None else r["rms_stderr"]})
        return out

    # ------------------------------------------------------------------ output
    def to_json(self, items: bool = True) -> dict[str, Any]:
        rows = [{k: _num(v) if isinstance(v, float) else v for k, v in r.items()} for r in self.rows()]
        data = asdict(self)
        if not items:
            data.pop("items")
        data.update(format="symest-bench/1", rows=rows, sampling=self.sampling_curve(),
                    mean_accuracy=float(np.nanmean(self.truth_values())) if self.truths else None,
                    rms_sqrt_pq=math.sqrt(self.mean_pq()) if self.truths else None)
        return json.loads(json.dumps(data, default=_json_default))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BenchResult:
        names = set(cls.__dataclass_fields__)
        kw = {k: v for k, v in data.items() if k in names}
        kw.setdefault("items", [])
        return cls(**kw)

    def summary_line(self) -> str:
        state = "" if self.complete else " INCOMPLETE"
        return (f"{self.model}: {self.copies} noisy copies (sigma {self.sigma:g}), {len(self.methods)} methods x "
                f"{len(self.budgets)} budgets, {self.wall_seconds:.1f} s on {self.executor} ({self.workers} workers)"
                f"{state}")

    def to_markdown(self) -> str:
        p = self.truth_values()
        lines = []
        if not self.complete:
            lines += ["**INCOMPLETE: the run was interrupted; the numbers below cover only the work that finished "
                      "and are not the protocol's result.**", ""]
        lines += [f"### MSE versus compute: {self.model} (noisy weights, sigma {self.sigma:g}, {self.copies} copies, "
                  f"seed {self.seed})", "",
                  f"{self.task}, sequence length {self.seq_len}, {self.n_params} parameters ({self.dtype}); sampling "
                  f"costs {self.per_sample_flops} FLOPs per sample (symest.flops). Copies' accuracy: mean "
                  f"{np.nanmean(p):.4f}, sd {np.nanstd(p):.4f}, min {np.nanmin(p):.4f}; RMS sqrt(p(1-p)) = "
                  f"{math.sqrt(self.mean_pq()):.4f}.",
                  f"Ground truth: {self.truth_info.get('note', '')}", "",
                  "| method | budget | FLOPs used (mean) | RMS error ± s.e. | sampling RMS at these FLOPs | "
                  "advantage (MSE ratio) | stated s.e. z_rms | notes |",
                  "|---|---:|---:|---:|---:|---:|---:|---|"]
        for r in self.rows():
            lines.append(_md_row(r, self.copies))
        lines += ["", "Sampling: analytic curve sqrt(mean p(1-p)/N) and the measured RMS error of the sampling "
                  "estimator (its own seed per copy and budget).", "",
                  "| budget | samples N | analytic RMS | measured RMS ± s.e. |", "|---:|---:|---:|---:|"]
        for s in self.sampling_curve():
            se = s["measured_rms_stderr"] or 0.0
            meas = "—" if s["measured_rms"] is None else f"{s['measured_rms']:.3g} ± {se:.2g}"
            ana = "unable (below one sample)" if s["analytic_rms"] is None else f"{s['analytic_rms']:.3g}"
            lines.append(f"| {s['budget']:.3g} | {s['samples']} | {ana} | {meas} |")
        lines += ["", f"Advantage > 1 means the estimator beats sampling at the FLOPs it spent. {self.summary_line()}."]
        lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines)

    def plot(self, path: str, title: str | None = None) -> str:
        """Log-log RMS error versus FLOPs (PNG/PDF/SVG by extension); returns ``path``."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 5))
        self._draw(ax)
        ax.set_title(title or f"{self.model}: noisy weights (sigma {self.sigma:g}, {self.copies} copies)"
                     + ("" if self.complete else " INCOMPLETE"))
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return path

    def _draw(self, ax: Any) -> None:
        rows = [r for r in self.rows() if r["rms_error"] is not None]
        xs = [r["mean_flops"] for r in rows] + list(self.budgets)
        lo_x, hi_x = max(min(xs), 1.0), max(xs)
        grid = np.logspace(math.log10(lo_x), math.log10(hi_x), 100)
        grid = grid[grid >= self.per_sample_flops]
        positive = [r["rms_error"] for r in rows if r["rms_error"] > 0]
        floor = min([*positive, self.sampling_rms_at(hi_x)]) / 10
        ax.plot(grid, [self.sampling_rms_at(g) for g in grid], "k--", lw=1, label="sampling (analytic)")
        for i, m in enumerate(self.methods):
            rs = [r for r in rows if r["method"] == m]
            if not rs:
                continue
            color = f"C{i}"
            fx = [r["mean_flops"] for r in rs]
            fy = [max(r["rms_error"], floor) for r in rs]
            ax.plot(fx, fy, "o-", color=color, label=f"{m} (measured)")
            zero = [(x, y) for r, x, y in zip(rs, fx, fy, strict=True) if r["rms_error"] <= floor]
            if zero:
                ax.plot(*zip(*zero, strict=True), "v", color=color, ms=10)
        ax.plot([], [], "kv", ms=8, ls="none", label="zero error (exact), drawn at the floor")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("FLOPs per estimate (symest.flops)")
        ax.set_ylabel("RMS error over noisy copies")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def _md_row(r: dict[str, Any], copies: int) -> str:
    st = r["status"]
    notes = []
    if st.get("unable"):
        notes.append(f"unable at this budget on {st['unable']}/{r['n']} copies")
    if st.get("inapplicable"):
        notes.append(f"not applicable: {r['message']}")
    if st.get("error"):
        notes.append(f"error on {st['error']} copies: {r['message']}")
    if r["n"] < copies:
        notes.append(f"only {r['n']}/{copies} copies ran")
    if r["rms_error"] is None:
        return f"| {r['method']} | {r['budget']:.3g} | — | — | — | — | — | {'; '.join(notes) or 'no data'} |"
    if r["over_budget"]:
        notes.append(f"over budget on {r['over_budget']} copies (max {r['max_flops']:.3g})")
    if r["kinds"]:
        notes.append(", ".join(f"{k} {v}" for k, v in r["kinds"].items()))
    if r["coverage"] is not None:
        notes.append(f"interval covers truth {100 * r['coverage']:.0f}%")
    se = f" ± {r['rms_stderr']:.2g}" if r["rms_stderr"] is not None else ""
    adv = "∞" if math.isinf(r["advantage"]) else f"{r['advantage']:.3g}"
    z = "—" if r["z_rms"] is None else f"{r['z_rms']:.2f}"
    return (f"| {r['method']} | {r['budget']:.3g} | {r['mean_flops']:.3g} | {r['rms_error']:.3g}{se} | "
            f"{r['sampling_rms']:.3g} | {adv} | {z} | {'; '.join(notes)} |")
