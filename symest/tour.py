"""``symest tour``: a guided run over the handcrafted and bundled models.

Sections are added as estimators land; each prints a readable table. Runs in well under two
minutes on a laptop CPU (``--fast`` uses fewer samples).
"""

from __future__ import annotations

import time

from symest.report import fmt_metric, table

HEADLINE = ("2nd_argmax_2_2", "2nd_argmax_4_3", "2nd_argmax_16_10", "argmedian_4_3", "median_4_3",
            "longest_cycle_4_4")


def _section(title: str) -> None:
    print(f"\n## {title}\n")


def tour(fast: bool = False) -> None:
    from symest.estimators import estimate
    from symest.handcrafted import HANDCRAFTED
    from symest.zoo import entry, load, manifest

    t0 = time.perf_counter()
    n = 1 << (16 if fast else 20)
    print("# symest tour: mechanistic estimation of AlgZoo models")
    _section(f"Handcrafted and headline models: sampling baseline ({n:,} samples, seed 0)")
    names = list(HANDCRAFTED) + [h for h in HEADLINE if entry(h) is not None]
    rows = []
    for name in names:
        m = load(name)
        e = estimate(m, "sampling", samples=n, seed=0)
        arc = (entry(name) or {}).get("arc")
        rows.append([name, m.task.name, m.hidden, m.seq_len, m.n_params, fmt_metric(e.metric, e.value, e.stderr),
                     fmt_metric(e.metric, arc), f"{e.flops:.2e}", f"{e.seconds:.2f}"])
    print(table(["model", "task", "d", "n", "params", "sampled", "ARC", "FLOPs", "s"], rows))
    print(f"\n{len(manifest())} bundled models (`symest zoo list`); {len(HANDCRAFTED)} handcrafted.")
    print(f"\ntour finished in {time.perf_counter() - t0:.1f} s")
