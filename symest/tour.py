"""``symest tour``: the showcase, over the handcrafted and bundled models.

1. The models, with a sampling baseline next to ARC's published accuracy.
2. Exact versus covariance versus adaptive versus sweep versus sampling on the headline models, with FLOPs.
3. The M_{2,2} closed form and its surprise ledger (the derivation in ``proofs/m22.py``).
4. MSE versus compute under ARC's noisy-weights protocol, written as a plot.

Runs in about two minutes on a laptop CPU (``--fast``: fewer samples and copies).
"""

from __future__ import annotations

import time
from pathlib import Path

from symest.report import fmt_metric, table

HEADLINE = ("2nd_argmax_2_2", "2nd_argmax_4_3", "2nd_argmax_16_10")
OTHERS = ("argmedian_4_3", "median_4_3", "longest_cycle_4_4")


def _section(title: str) -> None:
    print(f"\n## {title}\n", flush=True)


def _models_table(n: int) -> None:
    from symest.estimators import estimate
    from symest.handcrafted import HANDCRAFTED
    from symest.zoo import entry, load, manifest

    _section(f"Models: sampling baseline ({n:,} samples, seed 0) beside ARC's figure")
    rows = []
    for name in list(HANDCRAFTED) + [h for h in HEADLINE + OTHERS if entry(h) is not None]:
        m = load(name)
        e = estimate(m, "sampling", samples=n, seed=0)
        arc = (entry(name) or {}).get("arc")
        rows.append([name, m.task.name, m.hidden, m.seq_len, m.n_params, fmt_metric(e.metric, e.value, e.stderr),
                     fmt_metric(e.metric, arc), f"{e.seconds:.2f}"])
    print(table(["model", "task", "d", "n", "params", "sampled", "ARC", "s"], rows))
    print(f"\n{len(manifest())} bundled models (`symest zoo list`); {len(HANDCRAFTED)} handcrafted.")


def _estimators_table(fast: bool) -> None:
    from symest._errors import SymestError
    from symest.estimators import METHODS, estimate
    from symest.zoo import entry, load

    _section("Estimators side by side (value, kind, FLOPs; truth = exact where it finishes)")
    names = ["handcrafted_2nd_argmax_2", "handcrafted_2nd_argmax_3"] + [h for h in HEADLINE if entry(h)]
    rows = []
    for name in names:
        m = load(name)
        big = m.seq_len > 4  # regions in >= 5-D need LPs and numerical measures: slow
        runs = [("exact", {"budget": 1e6 if big else None}), ("covariance", {}),
                ("adaptive", {"budget": 1e6}), ("sweep", {"budget": 1e4}), ("sampling", {"budget": 1e6, "seed": 0})]
        for method, opts in runs:
            if method not in METHODS:
                continue
            if big and method == "adaptive":
                rows.append([name, method, "not run in the tour (n > 4: minutes of LPs)", "-", "-", "-"])
                continue
            try:
                e = estimate(m, method, **{k: v for k, v in opts.items() if v is not None})
            except SymestError as err:
                rows.append([name, method, f"unable: {err}"[:60], "-", "-", "-"])
                continue
            if e.kind == "bounds":
                val = f"[{100 * e.lower:.4f}%, {100 * e.upper:.4f}%]"
            else:
                val = fmt_metric(e.metric, e.value, e.stderr)
            rows.append([name, method, val, e.kind, f"{e.flops:.3g}", f"{e.seconds:.2f}"])
    print(table(["model", "method", "estimate", "kind", "FLOPs", "s"], rows))


def _m22_story() -> None:
    from symest._errors import SymestError
    from symest.closed_form import closed_form
    from symest.zoo import entry, load

    name = "2nd_argmax_2_2" if entry("2nd_argmax_2_2") else "handcrafted_2nd_argmax_2"
    m = load(name)
    _section(f"{name}: a closed form and a surprise ledger")
    try:
        form = closed_form(m)
        text = form.latex(max_chars=600)
        print(f"Exact accuracy as a formula in the weights ({form.regions} regions, valid while "
              f"{len(form.conditions)} sign conditions hold) = {form.value:.12f}:\n\n    {text}\n")
    except SymestError as err:
        print(f"(no closed form: {err})")
    from symest.zoo import bundled_dir

    proof = bundled_dir("proofs") / "m22.py"
    if not proof.is_file():
        print("(proofs/m22.py is not in this installation; run the tour from a source checkout for the ledger)")
        return
    from symest.derivation import run_proof

    est, led = run_proof(proof, model_name=name, samples=1 << 16, seed=0)
    totals = led.totals() if callable(getattr(led, "totals", None)) else {}
    print(f"Derivation proofs/m22.py: estimate {est.summary()}")
    if totals:
        print("\n" + table(["ledger", "bits"], [[k, f"{v:.2f}" if isinstance(v, float) else v]
                                               for k, v in totals.items() if isinstance(v, (int, float))]))
    print("\n(`symest ledger proofs/m22.py --markdown` prints every step; "
          "`symest audit` re-verifies a saved ledger against other weights.)")


def _bench(fast: bool, out: Path) -> None:
    try:
        from symest.bench import run_bench
    except ImportError:
        return
    from symest.zoo import entry, load

    name = "2nd_argmax_4_3" if entry("2nd_argmax_4_3") else "handcrafted_2nd_argmax_3"
    copies = 8 if fast else 32
    _section(f"MSE versus compute on {name} (noise sd 0.05, {copies} copies)")
    res = run_bench(load(name), sigma=0.05, copies=copies, budgets=[1e4, 1e5, 1e6, 1e7],
                    methods=["sampling", "covariance", "adaptive", "sweep", "exact"], seed=0, progress=False, workers=1)
    print(res.to_markdown())
    res.plot(out)
    print(f"\nplot written to {out}")


def tour(fast: bool = False, plot: str = "symest-tour.png") -> None:
    t0 = time.perf_counter()
    print("# symest tour: mechanistic estimation of AlgZoo models")
    _models_table(1 << (16 if fast else 20))
    _estimators_table(fast)
    _m22_story()
    _bench(fast, Path(plot))
    print(f"\ntour finished in {time.perf_counter() - t0:.1f} s")
