"""Plain-text and Markdown tables for the command line and docs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], markdown: bool = True) -> str:
    """A Markdown table (also readable as plain text)."""
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    def line(vals: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths, strict=True)) + " |"
    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return "\n".join(out + [line(r) for r in cells])


def fmt_metric(metric: str, value: float | None, stderr: float | None = None) -> str:
    if value is None:
        return "-"
    if metric == "accuracy":
        s = f"{100 * value:.3f}%"
        return s + (f" ± {100 * stderr:.3f}" if stderr else "")
    s = f"{value:.4f}"
    return s + (f" ± {stderr:.4f}" if stderr else "")


def zoo_table(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return "no bundled models found (models/manifest.json is missing)"
    body = [[r["name"], r["task"], r["hidden"], r["seq_len"], r["n_params"], r.get("seed", "-"),
             f"{r.get('train_sequences', 0):.2e}", fmt_metric(r["metric"], r.get("value"), r.get("stderr")),
             fmt_metric(r["metric"], r.get("arc"))] for r in rows]
    return table(["model", "task", "d", "n", "params", "seed", "train seqs", "measured", "ARC"], body)
