"""Running the noisy-weights protocol: plan the work items, execute them, collect a result.

:func:`run_bench` for one model, :func:`run_zoo_bench` for several models through one executor.
See :mod:`symest.bench` for the protocol.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symest._errors import BudgetError, MethodError, SymestError
from symest.bench.cache import DEFAULT_DIR, TruthCache, truth_key, warn
from symest.bench.executors import make_executor
from symest.bench.noise import ModelSpec, noisy_weights, weights_hash
from symest.bench.result import BenchResult
from symest.bench.work import TRUTH_EXACT, TRUTH_SAMPLING, WorkItem, run_item
from symest.model import Model

DEFAULT_BUDGETS = (1e3, 1e4, 1e5, 1e6, 1e7, 1e8)
TRUTH_SAMPLES = 1 << 20
MAX_TRUTH_SAMPLES = 1 << 26
EXACT_KINDS = ("exact", "numerical")
TRUTH_FIELDS = ("copy", "method", "value", "kind", "flops", "stderr", "error_bound", "samples", "copy_weights")


class BenchError(SymestError, ValueError):
    """Bad benchmark settings (sigma, copies, budgets, seed)."""


@dataclass
class _Plan:
    """The bookkeeping of one model's benchmark (kept local to :func:`run_bench`)."""

    model: Model
    spec: ModelSpec
    sigma: float
    copies: int
    seed: int
    budgets: list[float]
    methods: list[str]
    cache: TruthCache
    base_hash: str = ""
    copy_hashes: list[str] = field(default_factory=list)
    truths: list[dict[str, Any] | None] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    cached: int = 0

    def use_cached(self, k: int, hit: dict[str, Any]) -> None:
        self.truths[k] = {f: hit.get(f) for f in TRUTH_FIELDS}
        self.cached += 1

    def key(self, copy: int, method: str, samples: int | None) -> str:
        m = self.model
        return truth_key(self.base_hash, m.task.name, m.seq_len, m.dtype, self.sigma, self.seed, copy, method, samples)

    def item(self, copy: int, method: str, budget: float | None = None, samples: int | None = None) -> WorkItem:
        return WorkItem(self.spec, self.sigma, self.seed, copy, method, budget, samples)

    def store_truth(self, res: dict[str, Any], samples: int | None) -> None:
        k = res["copy"]
        entry = {k2: res.get(k2) for k2 in ("value", "kind", "flops", "stderr", "error_bound", "samples")}
        entry.update(copy=k, method="exact" if res["method"] == TRUTH_EXACT else "sampling",
                     copy_weights=self.copy_hashes[k], model=self.model.name, sigma=self.sigma, seed=self.seed)
        self.truths[k] = {f: entry.get(f) for f in TRUTH_FIELDS}
        self.cache.put(self.key(k, entry["method"], samples), entry)


def _validate(sigma: float, copies: int, budgets: Sequence[float], seed: int) -> list[float]:
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
        raise BenchError(f"sigma must be a positive number, got {sigma!r}")
    if not (isinstance(copies, (int, np.integer)) and copies > 0):
        raise BenchError(f"copies must be a positive integer, got {copies!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise BenchError(f"seed must be a non-negative integer, got {seed!r}")
    out = sorted({float(b) for b in budgets})
    if not out:
        raise BudgetError("need at least one budget")
    if not all(math.isfinite(b) and b > 0 for b in out):
        raise BudgetError(f"budgets must be positive FLOP counts, got {list(budgets)}")
    return out


def _methods(methods: Sequence[str] | None) -> list[str]:
    from symest.estimators import METHODS, _load_optional, known

    _load_optional()
    if methods is None:
        return sorted(METHODS)
    unknown = [m for m in methods if not known(m)]
    if unknown:
        raise MethodError(f"unknown method(s) {', '.join(unknown)}; available: {', '.join(sorted(METHODS))}")
    return list(dict.fromkeys(methods))


def _execute(executor: Any, items: list[WorkItem], bar: Any, on_result: Any) -> None:
    order = sorted(range(len(items)), key=lambda i: -items[i].cost_hint())
    ordered = [items[i] for i in order]
    for _, res in executor.imap(run_item, ordered):
        on_result(res)
        if bar is not None:
            bar.update(1)


def _required_truth_error(result: BenchResult) -> float | None:
    """A tenth of the smallest RMS error reported for a non-exact estimate (None if none)."""
    rms = [r["rms_error"] for r in result.rows()
           if r["rms_error"] and not set(r["kinds"]) <= set(EXACT_KINDS)]
    return min(rms) / 10 if rms else None


def run_bench(model: Model | str, sigma: float = 0.05, copies: int = 256, budgets: Sequence[float] = DEFAULT_BUDGETS,
              methods: Sequence[str] | None = None, seed: int = 0, executor: Any = "local",
              workers: int | None = None, address: str | None = None, cache_dir: str | None = DEFAULT_DIR,
              progress: bool = True, truth_samples: int = TRUTH_SAMPLES,
              max_truth_samples: int = MAX_TRUTH_SAMPLES) -> BenchResult:
    """ARC's noisy-weights protocol for ``model``: every method at every budget on every copy.

    ``executor`` is ``"local"`` (process pool of ``workers``), ``"ray"`` (``address`` None: a
    private local Ray; ``"host:port"``: a cluster), ``"serial"`` (in-process), or an executor
    object from :func:`symest.bench.executors.make_executor` (reused, not closed).
    ``cache_dir=None`` disables the ground-truth cache. Bad settings raise a one-line
    :class:`~symest._errors.SymestError`. On Ctrl-C the workers are stopped and the partial
    result is returned with ``complete=False`` (its table says INCOMPLETE).
    """
    budgets = _validate(sigma, copies, budgets, seed)
    if not (isinstance(truth_samples, int) and 0 < truth_samples <= max_truth_samples):
        raise BenchError(f"truth_samples must be in 1..{max_truth_samples}, got {truth_samples!r}")
    if isinstance(model, str):
        from symest.zoo import load

        model = load(model)
    methods = _methods(methods)

    t0 = time.perf_counter()
    plan = _Plan(model, ModelSpec.of(model), float(sigma), int(copies), int(seed), budgets, methods,
                 TruthCache(cache_dir))
    plan.base_hash = weights_hash(model.weights)
    plan.copy_hashes = [weights_hash(noisy_weights(model.weights, sigma, seed, k, model.dtype)) for k in range(copies)]
    plan.truths = [None] * copies
    own = isinstance(executor, str)
    ex = make_executor(executor, workers, address) if own else executor
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=0, desc=f"bench {model.name}", unit="item", file=sys.stderr, leave=False)
    complete, done, planned = True, 0, 0
    notes: list[str] = []
    truth_samples_used: int | None = None

    def run(items: list[WorkItem], on_result: Any) -> None:
        nonlocal planned, done
        planned += len(items)
        if bar is not None:
            bar.total = planned
            bar.refresh()

        def counted(res: dict[str, Any]) -> None:
            nonlocal done
            done += 1
            on_result(res)

        _execute(ex, items, bar, counted)

    try:
        # phase 1: exact ground truths (cached or computed) together with every estimator item
        def uncached(ks: Sequence[int], kind: str, n: int | None) -> list[Any]:
            """Work items for the copies whose ground truth (of this kind) is not cached yet."""
            out = []
            for k in ks:
                hit = plan.cache.get(plan.key(k, kind, n), plan.copy_hashes[k])
                if hit is not None:
                    plan.use_cached(k, hit)
                elif kind == "exact":
                    out.append(plan.item(k, TRUTH_EXACT))
                else:
                    out.append(plan.item(k, TRUTH_SAMPLING, samples=n))
            return out

        todo = uncached(range(copies), "exact", None)
        work = todo + [plan.item(k, m, b) for m in methods for b in budgets for k in range(copies)]
        inexact: list[int] = []

        def phase1(res: dict[str, Any]) -> None:
            if res["method"] == TRUTH_EXACT:
                if res["status"] == "ok" and res["kind"] in EXACT_KINDS:
                    plan.store_truth(res, None)
                else:
                    inexact.append(res["copy"])
            else:
                plan.items.append(res)

        run(work, phase1)
        # phase 2: copies without an exact truth get sampled ones, refined until precise enough
        n_samp = truth_samples
        while inexact:
            need = uncached(sorted(inexact), "sampling", n_samp)
            run(need, lambda res, n=n_samp: plan.store_truth(res, n) if res["status"] == "ok" else None)
            truth_samples_used = n_samp
            partial = _result(plan, ex, t0, True, notes)
            required = _required_truth_error(partial)
            se = [plan.truths[k]["stderr"] or 0.0 for k in inexact if plan.truths[k]]
            se_rms = math.sqrt(float(np.mean(np.square(se)))) if se else 0.0
            if required is None or se_rms <= required or n_samp >= max_truth_samples:
                break
            factor = (se_rms / required) ** 2
            n_samp = int(min(max_truth_samples, n_samp * 2 ** math.ceil(math.log2(factor))))
    except KeyboardInterrupt:
        complete = False
        ex.close(cancel=True)
        own = False
        notes.append(f"interrupted after {done} of {planned} work items")
        warn(f"benchmark of {model.name} interrupted after {done} of {planned} work items; the result is incomplete")
    finally:
        if bar is not None:
            bar.close()
        if own:
            ex.close()
    if plan.cache.rebuilt:
        notes.append(f"rebuilt {len(plan.cache.rebuilt)} corrupted ground-truth cache file(s)")
    result = _result(plan, ex, t0, complete, notes)
    result.truth_info = _truth_info(result, truth_samples_used, max_truth_samples)
    result.truth_info["cached"] = plan.cached
    return result


def _result(plan: _Plan, ex: Any, t0: float, complete: bool, notes: list[str]) -> BenchResult:
    from symest.flops import per_sample_flops

    m = plan.model
    if complete and any(t is None for t in plan.truths):
        missing = sum(t is None for t in plan.truths)
        notes = [*notes, f"no ground truth for {missing} copies (their rows are left out)"]
    items = sorted(plan.items, key=lambda it: (it["method"], it["budget"], it["copy"]))
    return BenchResult(model=m.name, task=m.task.name, seq_len=m.seq_len, n_params=m.n_params, dtype=m.dtype,
                       per_sample_flops=per_sample_flops(m), sigma=plan.sigma, copies=plan.copies, seed=plan.seed,
                       budgets=list(plan.budgets), methods=list(plan.methods), truths=list(plan.truths),
                       truth_info={}, items=items, executor=ex.name, workers=ex.workers,
                       wall_seconds=time.perf_counter() - t0, complete=complete, notes=list(notes))


def _truth_info(result: BenchResult, samples: int | None, cap: int) -> dict[str, Any]:
    truths = [t for t in result.truths if t]
    by = {meth: [t for t in truths if t["method"] == meth] for meth in ("exact", "sampling")}
    required = _required_truth_error(result)
    se = [t.get("stderr") or 0.0 for t in by["sampling"]]
    se_rms = math.sqrt(float(np.mean(np.square(se)))) if se else 0.0
    bound = max([t.get("error_bound") or 0.0 for t in by["exact"]], default=0.0)
    worst = max(se_rms, bound)
    met = required is None or worst <= required
    parts = []
    if by["exact"]:
        kinds = sorted({t["kind"] for t in by["exact"]})
        parts.append(f"exact method on {len(by['exact'])} copies ({'/'.join(kinds)}; largest error bound {bound:.1e})")
    if by["sampling"]:
        parts.append(f"sampling on {len(by['sampling'])} copies ({samples} samples each, own seed per copy; RMS "
                     f"standard error {se_rms:.2g})")
    req = "no non-exact RMS error to compare with" if required is None else (
        f"required below a tenth of the smallest reported non-exact RMS error, {required:.2g}: "
        + ("met" if met else f"NOT met (sample count capped at {cap})"))
    return {"exact_copies": len(by["exact"]), "sampled_copies": len(by["sampling"]), "samples": samples,
            "stderr_rms": se_rms, "max_error_bound": bound, "required": required, "met": met,
            "note": "; ".join(parts) + f"; {req}." if parts else "none."}


@dataclass
class ZooBenchResult:
    """One :class:`BenchResult` per model of a sweep."""

    results: list[BenchResult]
    wall_seconds: float = 0.0
    complete: bool = True

    def to_json(self, items: bool = True) -> dict[str, Any]:
        return {"format": "symest-zoo-bench/1", "complete": self.complete, "wall_seconds": self.wall_seconds,
                "models": [r.to_json(items) for r in self.results]}

    def to_markdown(self) -> str:
        head = [] if self.complete else ["**INCOMPLETE: the sweep was interrupted.**", ""]
        return "\n\n".join(["\n".join(head)] + [r.to_markdown() for r in self.results]).strip()

    def plot(self, path: str) -> str:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        k = max(len(self.results), 1)
        cols = min(k, 3)
        rows = -(-k // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 4.5 * rows), squeeze=False)
        for ax, r in zip(axes.flat, self.results, strict=False):
            r._draw(ax)
            ax.set_title(f"{r.model} (sigma {r.sigma:g}, {r.copies} copies)", fontsize=9)
        for ax in list(axes.flat)[len(self.results):]:
            ax.axis("off")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path


def run_zoo_bench(names: Sequence[str | Model], *, executor: Any = "local", workers: int | None = None,
                  address: str | None = None, **options: Any) -> ZooBenchResult:
    """:func:`run_bench` over several models (zoo names, handcrafted names, paths or Models),
    sharing one executor. Stops at the first interrupted model (``complete=False``)."""
    from symest.zoo import load

    if not names:
        raise BenchError("need at least one model")
    models = [n if isinstance(n, Model) else load(n) for n in names]
    t0 = time.perf_counter()
    own = isinstance(executor, str)
    ex = make_executor(executor, workers, address) if own else executor
    results = []
    try:
        for m in models:
            r = run_bench(m, executor=ex, **options)
            results.append(r)
            if not r.complete:
                own = False  # run_bench already stopped the workers
                break
    finally:
        if own:
            ex.close()
    return ZooBenchResult(results, time.perf_counter() - t0, all(r.complete for r in results)
                          and len(results) == len(models))
