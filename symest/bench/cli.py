"""The ``symest bench`` command, ready to wire into :mod:`symest.cli`.

    symest bench MODEL [MODEL ...] [--zoo] [--sigma 0.05] [--copies 256] [--budgets 1e3..1e8]
                 [--methods sampling,exact,...] [--seed 0] [--json] [--plot FILE.png]
                 [--executor local|ray|serial] [--workers N] [--address HOST:PORT]
                 [--cache DIR | --no-cache] [--task TASK] [--seq-len N]

One MODEL runs :func:`symest.bench.run_bench`; several MODELs, or ``--zoo`` (no MODEL: every
bundled zoo model), run :func:`symest.bench.run_zoo_bench` through one executor. ``--json``
prints one JSON object and nothing else (per-copy items included); otherwise the Markdown table.
An interrupted run prints what finished under an INCOMPLETE banner, writes no plot and exits 130.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from typing import Any

from symest._errors import BudgetError, SymestError


def parse_budgets(text: str) -> list[float]:
    """``1e4,1e5,3e5`` (a list), ``1e3..1e8`` (one per decade) or ``1e3..1e8:11`` (11 log-spaced)."""
    text = text.strip()
    try:
        if ".." in text:
            m = re.fullmatch(r"([^.:]+(?:\.\d+)?(?:e[+-]?\d+)?)\.\.([^:]+?)(?::(\d+))?", text, flags=re.I)
            if not m:
                raise ValueError
            lo, hi = float(m.group(1)), float(m.group(2))
            if not (0 < lo < hi and math.isfinite(hi)):
                raise ValueError
            k = int(m.group(3)) if m.group(3) else max(round(math.log10(hi / lo)), 1) + 1
            if k < 2:
                raise ValueError
            return [float(f"{lo * (hi / lo) ** (i / (k - 1)):.6g}") for i in range(k)]
        out = [float(b) for b in text.split(",") if b.strip()]
    except ValueError:
        raise BudgetError(f"bad --budgets {text!r}: use 1e4,1e5,... or LO..HI[:COUNT]") from None
    if not out or not all(math.isfinite(b) and b > 0 for b in out):
        raise BudgetError(f"bad --budgets {text!r}: budgets must be positive FLOP counts")
    return out


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            v = kind(float(text)) if kind is int and "e" in text.lower() else kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not v > 0 or (isinstance(v, float) and not math.isfinite(v)):
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return v

    return parse


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``bench`` subcommand to ``sub`` (the subparsers of ``symest``)."""
    b = sub.add_parser("bench", help="MSE versus compute against sampling (ARC's noisy-weights protocol)")
    b.add_argument("model", nargs="*", help="zoo/handcrafted name or weights file (several: a sweep)")
    b.add_argument("--zoo", action="store_true", help="sweep the bundled zoo (all models when none is named)")
    b.add_argument("--task", help="task of a file that does not say (e.g. 2nd_argmax)")
    b.add_argument("--seq-len", type=_positive(int), help="sequence length when the file cannot tell")
    b.add_argument("--sigma", type=_positive(float), default=0.05, help="sd of the weight noise (default 0.05)")
    b.add_argument("--copies", type=_positive(int), default=256, help="noisy copies (default 256)")
    b.add_argument("--budgets", type=parse_budgets, default=None,
                   help="FLOP budgets: 1e4,1e5,... or LO..HI[:COUNT] (default 1e3..1e8, one per decade)")
    b.add_argument("--methods", help="comma-separated estimators (default: every registered method)")
    b.add_argument("--seed", type=int, default=0, help="noise seed (copy k uses (seed, k))")
    b.add_argument("--executor", default="local", choices=["local", "ray", "serial"])
    b.add_argument("--workers", type=_positive(int), help="worker processes / Ray CPUs (default: all cores)")
    b.add_argument("--address", help="Ray cluster address host:port (with --executor ray)")
    b.add_argument("--cache", default=".symest-cache", help="ground-truth cache folder (default .symest-cache)")
    b.add_argument("--no-cache", action="store_true", help="do not read or write the ground-truth cache")
    b.add_argument("--plot", help="write the log-log plot to this file (.png, .pdf, .svg)")
    b.add_argument("--json", action="store_true", help="print one JSON object (with per-copy data)")
    b.set_defaults(fn=cmd_bench)
    return b


def cmd_bench(a: argparse.Namespace) -> None:
    """Run the command for parsed arguments ``a`` (prints; exits 130 if interrupted)."""
    from symest.bench.run import DEFAULT_BUDGETS, run_bench, run_zoo_bench
    from symest.zoo import load, manifest

    names = list(a.model)
    if a.zoo and not names:
        names = [m["name"] for m in manifest()]
        if not names:
            raise SymestError("--zoo: no bundled zoo models found (models/manifest.json)")
    if not names:
        raise SymestError("name a MODEL (or use --zoo)")
    if a.plot and not a.plot.lower().endswith((".png", ".pdf", ".svg")):
        raise SymestError(f"--plot must end in .png, .pdf or .svg, got {a.plot}")
    models = [load(n, task=a.task, seq_len=a.seq_len) for n in names]
    opts = {"sigma": a.sigma, "copies": a.copies, "budgets": a.budgets or DEFAULT_BUDGETS, "seed": a.seed,
            "methods": [m.strip() for m in a.methods.split(",") if m.strip()] if a.methods else None,
            "cache_dir": None if a.no_cache else a.cache, "progress": not a.json and sys.stderr.isatty(),
            "executor": a.executor, "workers": a.workers, "address": a.address}
    if len(models) == 1 and not a.zoo:
        res: Any = run_bench(models[0], **opts)
    else:
        res = run_zoo_bench(models, **opts)
    if a.plot and res.complete:
        res.plot(a.plot)
    print(json.dumps(res.to_json()) if a.json else res.to_markdown())
    if a.plot and res.complete and not a.json:
        print(f"plot written to {a.plot}")
    if not res.complete:
        print("symest: benchmark interrupted; the output above is incomplete and no plot was written", file=sys.stderr)
        raise SystemExit(130)
